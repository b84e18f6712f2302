"""Which language a turn is in: explicit choice, then the sticky language, then detection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A detector returns a language code or None when it is not confident.
Detector = Callable[[str], str | None]


@dataclass(frozen=True)
class LanguageDecision:
    language: str
    source: str  # explicit | sticky | detected | default
    unsupported_choice: str | None = None  # an explicit choice the line cannot serve


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
        detected = detect(text) if detect else None
        # Only a confident detection on a real sentence moves a conversation off its language.
        if detected and detected != sticky and supported(detected):
            return LanguageDecision(detected, "detected")
        return LanguageDecision(sticky, "sticky")
    detected = detect(text) if detect else None
    if detected and supported(detected):
        return LanguageDecision(detected, "detected")
    return LanguageDecision(default, "default")
