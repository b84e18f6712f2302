"""Which language a turn is in: explicit choice, then the sticky language, then detection.

A first message whose language the detector is not sure of is still answered (in its best
guess, or the default language), with a line that tells the person how to pick their language
(`needs_language_hint`); such a conversation's language is not settled, so the next message
may move it on less evidence than a settled one needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.language.identify import Identification, word_count

# A detector returns an Identification (or, for simple fakes, a language code or None).
Detector = Callable[[str], "Identification | str | None"]
# Moving a settled conversation to another language takes a real sentence.
SWITCH_MIN_WORDS = 3
# Sources whose language is settled: later messages need a sure sentence to move it.
SETTLED_SOURCES = frozenset({"explicit", "detected", "sticky"})


@dataclass(frozen=True)
class LanguageDecision:
    language: str
    source: str  # explicit | sticky | detected | guessed | default
    # an explicit choice, or a first message's detected language, that the line cannot serve
    unsupported_choice: str | None = None
    # the line was not sure: tell the person how to choose their language
    needs_language_hint: bool = False


def identify(detect: Detector | None, text: str) -> Identification:
    if detect is None:
        return Identification(None, False, "off")
    result = detect(text)
    if isinstance(result, Identification):
        return result
    return Identification(result, result is not None, "detector")


def resolve_language(
    *,
    explicit: str | None,
    sticky: str | None,
    text: str,
    supported: Callable[[str], bool],
    default: str,
    detect: Detector | None = None,
    sticky_source: str | None = "sticky",
) -> LanguageDecision:
    if explicit:
        explicit = explicit.lower()
        if supported(explicit):
            return LanguageDecision(explicit, "explicit")
        fallback = sticky if sticky and supported(sticky) else default
        return LanguageDecision(fallback, "sticky" if fallback == sticky else "default", explicit)
    found = identify(detect, text)
    if sticky and supported(sticky):
        if found.language == sticky and found.is_sure and sticky_source not in SETTLED_SOURCES:
            return LanguageDecision(sticky, "detected")  # the guess is confirmed
        if found.language in (None, sticky) or not supported(found.language):
            return LanguageDecision(sticky, "sticky")
        if sticky_source in SETTLED_SOURCES:
            # Only a sure detection on a real sentence moves a settled conversation.
            if found.is_sure and word_count(text) >= SWITCH_MIN_WORDS:
                return LanguageDecision(found.language, "detected")
            return LanguageDecision(sticky, "sticky")
        # The first message was a guess: the second one may correct it.
        return LanguageDecision(found.language, "detected" if found.is_sure else "guessed")
    if found.language and supported(found.language):
        if found.is_sure:
            return LanguageDecision(found.language, "detected")
        return LanguageDecision(found.language, "guessed", needs_language_hint=True)
    if found.language and found.is_sure:
        # A first message clearly in a language the line cannot serve: say so (and offer the menu).
        return LanguageDecision(default, "default", found.language)
    return LanguageDecision(default, "default", needs_language_hint=detect is not None)
