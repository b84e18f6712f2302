"""Splitting replies into SMS messages: never inside a word or a phone number, capped per turn."""

from __future__ import annotations

import re

from translations.sms import segment_info

# A space inside a phone number ("020-50 50 50", "114 14") must not become a split point.
_NUMBER_SPACE = re.compile(r"(?<=\d) (?=\d)")
_NBSP_MARK = "\u2060"  # word joiner, never sent: restored to a space after splitting


def _protect(text: str) -> str:
    return _NUMBER_SPACE.sub(_NBSP_MARK, text)


def _restore(text: str) -> str:
    return text.replace(_NBSP_MARK, " ")


def _fits(text: str, max_segments: int) -> bool:
    return segment_info(_restore(text)).segments <= max_segments


def split_message(text: str, max_segments: int = 3) -> list[str]:
    """Split one reply into messages of at most max_segments each, at line or word breaks."""
    text = _protect(text.strip())
    if _fits(text, max_segments):
        return [_restore(text)]
    parts: list[str] = []
    current = ""
    for token in re.split(r"(\s+)", text):
        candidate = current + token
        if current and not _fits(candidate.strip(), max_segments):
            parts.append(current.strip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        parts.append(current.strip())
    return [_restore(p) for p in parts]


def plan_messages(texts: list[str], max_segments_per_turn: int, per_message: int = 3) -> list[str]:
    """All replies of one turn as SMS messages, within the per-turn segment cap. The first
    message always goes (it is the most important: 112 comes first in danger)."""
    planned: list[str] = []
    used = 0
    for text in texts:
        for part in split_message(text, per_message):
            cost = segment_info(part).segments
            if planned and used + cost > max_segments_per_turn:
                return planned
            planned.append(part)
            used += cost
    return planned
