"""Which language a turn is in: explicit choice, then the sticky language, then detection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A detector returns a language code or None when it is not confident; min_words is the
# shortest text it may judge.
Detector = Callable[..., str | None]
# Moving an existing conversation to another language takes a real sentence.
SWITCH_MIN_WORDS = 3


@dataclass(frozen=True)
class LanguageDecision:
    language: str
    source: str  # explicit | sticky | detected | default
    # an explicit choice, or a first message's detected language, that the line cannot serve
    unsupported_choice: str | None = None


def resolve_language(
    *,
    explicit: str | None,
    sticky: str | None,
    text: str,
    supported: Callable[[str], bool],
    default: str,
    detect: Detector | None = None,
) -> LanguageDecision:
    if explicit:
        explicit = explicit.lower()
        if supported(explicit):
            return LanguageDecision(explicit, "explicit")
        fallback = sticky if sticky and supported(sticky) else default
        return LanguageDecision(fallback, "sticky" if fallback == sticky else "default", explicit)
    if sticky and supported(sticky):
        # Only a confident detection on a real sentence moves a conversation off its language.
        detected = detect(text, min_words=SWITCH_MIN_WORDS) if detect else None
        if detected and detected != sticky and supported(detected):
            return LanguageDecision(detected, "detected")
        return LanguageDecision(sticky, "sticky")
    detected = detect(text) if detect else None
    if detected and supported(detected):
        return LanguageDecision(detected, "detected")
    # A first message clearly in a language the line cannot serve: say so (and offer the menu).
    return LanguageDecision(default, "default", detected)
