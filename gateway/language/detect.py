"""Language detection on the person's text.

Core languages are decided by `identify.LanguageIdentifier` (script, then character statistics
learned from the project's own examples and their phone-typed variants), which knows
transliterated Russian, arabizi and diacritic-free Romanian where general detectors do not.
lingua (its models ship inside the wheel) still recognises the languages outside the core set:
the machine-translated ones, and those the line only names to say it cannot serve them. It
only wins on a real sentence it is clearly sure of, when the core identifier is not sure.
"""

from __future__ import annotations

from collections.abc import Iterable

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from gateway.language.identify import Identification, LanguageIdentifier, word_count

MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.3
# lingua overrides the core identifier only on this many words, this sure.
OTHER_LANGUAGE_MIN_WORDS = 3
OTHER_LANGUAGE_MIN_CONFIDENCE = 0.8

class LanguageDetector:
    """Callable text -> Identification. Built once per process (lingua: about 25 MB per
    language; the core identifier: a few MB, trained in about a second)."""

    def __init__(self, codes: Iterable[str], identifier: LanguageIdentifier | None = None) -> None:
        codes = set(codes)
        self._identifier = identifier or LanguageIdentifier.from_nlu_data()
        self.core = frozenset(codes) & frozenset(self._identifier.languages)
        languages = []
        for code in sorted(codes):
            iso = getattr(IsoCode639_1, code.upper(), None)
            if iso is not None:
                languages.append(Language.from_iso_code_639_1(iso))
        self._lingua = LanguageDetectorBuilder.from_languages(*languages).build()

    def lingua(self, text: str) -> tuple[str | None, float]:
        values = self._lingua.compute_language_confidence_values(text)
        if not values:
            return None, 0.0
        top = values[0]
        runner_up = values[1].value if len(values) > 1 else 0.0
        if top.value < MIN_CONFIDENCE or top.value - runner_up < MIN_MARGIN:
            return None, top.value
        return top.language.iso_code_639_1.name.lower(), top.value

    def __call__(self, text: str) -> Identification:
        core = self._identifier(text)
        if core.is_sure and core.reason == "script":
            return core
        if word_count(text) >= OTHER_LANGUAGE_MIN_WORDS:
            other, confidence = self.lingua(text)
            if other and other not in self._identifier.languages \
                    and confidence >= OTHER_LANGUAGE_MIN_CONFIDENCE:
                return Identification(other, True, "lingua")
        if core.language is not None and core.language not in self.core:
            return Identification(None, False, "unsure")
        return core
