"""A deterministic safety net for messages that signal immediate danger.

The NLU model misses too many "I am in danger" messages, and any such message must get the
emergency answer (112). The phrases live in translations/danger/<language>.yml, one list per language.

Matching works on the normalised message: casefolded, Latin/Cyrillic combining accents
(U+0300-U+036F) dropped after NFKD, every character that is not a letter, digit, combining mark
or space replaced by a space, spaces collapsed. Phrases are normalised the same way when loaded.

- A phrase from the th or zh list matches as a substring of the message with its spaces removed
  (these scripts do not separate words with spaces).
- A phrase from any other list matches on word boundaries: " phrase " inside " message ".
- A phrase written as ^...$ matches only the whole message (^ alone: the start, $ alone: the
  end). That is how a bare "help!" is caught without catching "help me find housing".
- A hit does not count when the message tells of violence in the past ("last year", "two
  weeks ago") and says nothing of now (translations/danger/tense.yml).

Every language's list is checked, whatever the conversation's language: people write in another
language than the one they picked, and English or transliterated cries are common everywhere.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.language.identify import UNSPACED_SCRIPT

DANGER_DIR = Path(__file__).resolve().parents[2] / "translations" / "danger"
TENSE_FILE = DANGER_DIR / "tense.yml"
DENIED_FILE = DANGER_DIR / "denied.yml"
SUBSTRING_LANGUAGES = frozenset({"th", "zh"})
# The NLU's confidence in emergency_danger above which the emergency text goes first even
# when another intent won (gateway.conversations.turn.danger_first): danger that is "close".
# Chosen with bench/nlu_eval.py on the development set (tests/nlu/<lang>.yml) for the TF-IDF
# classifier: below 0.3 false 112 answers rise faster than danger recall.
EMERGENCY_MIN_CONFIDENCE = 0.3
# When the NLU has read the message, a phrase hit counts only if the NLU gives emergency_danger
# at least this much: phrases fire inside stories that are not danger ("she is not beaten any
# more, can she report it?"). Chosen on the danger development set (tests/nlu/dev_danger):
# false 112 from 12.4 % to 8.4 % with no danger message lost there or on tests/nlu/<lang>.yml;
# 0.1 lost some. With Rasa down the phrases alone decide, and so they do for a short message
# (SHORT_MESSAGE_WORDS words or fewer): a bare cry is where the NLU is weakest and a phrase
# inside a story is where the phrases misfire (no false 112 added on either development set).
NET_MIN_NLU_CONFIDENCE = 0.05
SHORT_MESSAGE_WORDS = 4


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    kept = []
    for ch in decomposed:
        if "\u0300" <= ch <= "\u036f":
            continue  # Latin/Cyrillic accents; Thai and Arabic marks carry meaning
        # Letters, digits and the (non-Latin) combining marks that belong to them stay.
        kept.append(ch if ch.isspace() or unicodedata.category(ch)[0] in "LNM" else " ")
    return " ".join("".join(kept).split())


@dataclass(frozen=True)
class Phrase:
    text: str  # normalised; without spaces for th and zh
    substring: bool
    at_start: bool = False
    at_end: bool = False

    def matches(self, words: str, compact: str) -> bool:
        """words: the normalised message; compact: the same without spaces."""
        if self.substring:
            if self.at_start and self.at_end:
                return compact == self.text
            if self.at_start:
                return compact.startswith(self.text)
            if self.at_end:
                return compact.endswith(self.text)
            return self.text in compact
        if self.at_start and self.at_end:
            return words == self.text
        if self.at_start:
            return f"{words} ".startswith(f"{self.text} ")
        if self.at_end:
            return f" {words}".endswith(f" {self.text}")
        return f" {self.text} " in f" {words} "


def parse_phrase(raw: str, language: str) -> Phrase | None:
    raw = str(raw).strip()
    at_start, at_end = raw.startswith("^"), raw.endswith("$")
    body = normalise(raw[1 if at_start else 0:len(raw) - 1 if at_end else len(raw)])
    if not body:
        return None
    substring = language in SUBSTRING_LANGUAGES
    if substring:
        body = body.replace(" ", "")
    return Phrase(body, substring, at_start, at_end)


def load_phrases(directory: Path = DANGER_DIR) -> dict[str, tuple[Phrase, ...]]:
    """One YAML list per language: <directory>/<language>.yml (two-letter code)."""
    table: dict[str, tuple[Phrase, ...]] = {}
    for path in sorted(directory.glob("??.yml")):
        language = path.stem
        raws = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        phrases = (parse_phrase(raw, language) for raw in raws)
        table[language] = tuple(dict.fromkeys(p for p in phrases if p is not None))
    return table


@dataclass(frozen=True)
class TenseMarkers:
    past: tuple[Phrase, ...]
    now: tuple[Phrase, ...]


def load_tense_markers(path: Path = TENSE_FILE) -> dict[str, TenseMarkers]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    table = {}
    for language, lists in data.items():
        language = str(language)

        def parsed(key: str, lang: str = language) -> tuple[Phrase, ...]:
            return tuple(p for p in (parse_phrase(raw, lang) for raw in lists.get(key) or []) if p)

        table[language] = TenseMarkers(parsed("past"), parsed("now"))
    return table


def load_denials(path: Path = DENIED_FILE) -> tuple[Phrase, ...]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    parsed = (parse_phrase(raw, str(lang)) for lang, raws in data.items() for raw in raws or [])
    # Longest first, so "not in danger right now" goes before "not in danger".
    return tuple(sorted({p for p in parsed if p}, key=lambda p: -len(p.text)))


_PHRASES: dict[str, tuple[Phrase, ...]] | None = None
_TENSE: dict[str, TenseMarkers] | None = None
_DENIALS: tuple[Phrase, ...] | None = None


def without_denials(words: str) -> tuple[str, str]:
    """The normalised message with every phrase saying danger is absent (denied.yml) cut out,
    and the compact form (without spaces) with the th/zh ones cut out. A cut leaves "|", so
    no phrase matches across it."""
    global _DENIALS
    if _DENIALS is None:
        _DENIALS = load_denials()
    compact = words.replace(" ", "")
    for denial in _DENIALS:
        if denial.substring:
            compact = compact.replace(denial.text, "|")
        else:
            words = " ".join(f" {words} ".replace(f" {denial.text} ", " | ").split())
    return words, compact


def tense_markers() -> dict[str, TenseMarkers]:
    global _TENSE
    if _TENSE is None:
        _TENSE = load_tense_markers()
    return _TENSE


def is_told_as_past(words: str, compact: str, language: str | None) -> bool:
    """The message places what happened in the past ("he hit me last year, can I report it?")
    and nothing in it says now, tonight, again, outside ... Past markers are read in the
    conversation's language and English only (a word of another language must not hide
    danger); now markers in every language (a wrong one only keeps the 112 answer)."""
    table = tense_markers()
    past = any(p.matches(words, compact)
               for lang in dict.fromkeys([language, "en"]) if lang in table
               for p in table[lang].past)
    if not past:
        return False
    return not any(p.matches(words, compact) for markers in table.values() for p in markers.now)


def phrases() -> dict[str, tuple[Phrase, ...]]:
    """translations/danger/*.yml, loaded once."""
    global _PHRASES
    if _PHRASES is None:
        _PHRASES = load_phrases()
    return _PHRASES


def matching_phrases(text: str, language: str | None = None) -> list[tuple[str, str]]:
    """(language, phrase) for every phrase that matches; the given language's list first."""
    words = normalise(text or "")
    if not words:
        return []
    compact = words.replace(" ", "")
    table = phrases()
    order = list(dict.fromkeys([language, "en", *table]))
    return [(lang, phrase.text) for lang in order if lang in table
            for phrase in table[lang] if phrase.matches(words, compact)]


def is_short_message(text: str) -> bool:
    """At most SHORT_MESSAGE_WORDS words (Thai and Chinese, without spaces between words: at
    most three characters a word)."""
    words = normalise(text or "")
    if UNSPACED_SCRIPT.search(words):
        return len(words.replace(" ", "")) <= 3 * SHORT_MESSAGE_WORDS
    return len(words.split()) <= SHORT_MESSAGE_WORDS


def signals_danger(text: str, language: str | None) -> bool:
    """True if the message signals immediate danger in the given language, in English or in
    any other language of translations/danger/."""
    words = normalise(text or "")
    if not words:
        return False
    words, compact = without_denials(words)
    table = phrases()
    for lang in dict.fromkeys([language, "en", *table]):
        if lang in table and any(p.matches(words, compact) for p in table[lang]):
            # Violence told as the past while asking something is not immediate danger; the
            # NLU still decides (its own emergency intent and confidence are not vetoed).
            return not is_told_as_past(words, compact, language)
    return False
