"""Language detection on the person's text (lingua: its models ship inside the wheel).

Short texts are hard: "hej", "ok" or a transliterated "pomogite" are guessed wrongly with
confidence by most detectors. So a guess counts only when lingua's high-accuracy mode is
clearly sure, and a conversation that already has a language only moves on a real sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

MIN_CONFIDENCE = 0.6
MIN_MARGIN = 0.3
# Scripts where characters, not spaces, carry the words.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff]")


def _word_count(text: str) -> int:
    if _UNSPACED.search(text):
        return len(re.sub(r"\s", "", text)) // 2
    return len(re.findall(r"\w+", text))


class LanguageDetector:
    """Callable text -> code or None. Built once per process (about 25 MB per language)."""

    def __init__(self, codes: Iterable[str], min_words: int = 2) -> None:
        languages = []
        for code in sorted(set(codes)):
            iso = getattr(IsoCode639_1, code.upper(), None)
            if iso is not None:
                languages.append(Language.from_iso_code_639_1(iso))
        self._detector = LanguageDetectorBuilder.from_languages(*languages).build()
        self.min_words = min_words

    def __call__(self, text: str, *, min_words: int | None = None) -> str | None:
        if _word_count(text) < (min_words or self.min_words):
            return None
        values = self._detector.compute_language_confidence_values(text)
        if not values:
            return None
        top = values[0]
        runner_up = values[1].value if len(values) > 1 else 0.0
        if top.value < MIN_CONFIDENCE or top.value - runner_up < MIN_MARGIN:
            return None
        return top.language.iso_code_639_1.name.lower()
