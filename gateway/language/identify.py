"""Which core language a message is written in, including the ways people really type it.

Off-the-shelf detectors are trained on clean text: they answer "English" to a transliterated
"pomogite mne" or an arabizi "ana 5ayfa", and guess wildly on "Bonjour" or "Да, хорошо". This
identifier decides in three steps:

1. Script. Thai letters are Thai, Han characters Chinese, Arabic letters Arabic, Latin words
   with the arabizi digits (3 for ع, 7 for ح ...) Arabic; in Cyrillic, і ї є ґ are only
   Ukrainian and ы э ё only Russian. Script also narrows the candidates
   (Cyrillic text is Russian, Ukrainian or Bulgarian).
2. Character statistics learned from the project's own multilingual examples
   (`nlu_data/nlu/<lang>.yml`, the file name is the label), together with generated variants
   of them as people type on a phone: Latin-script languages without their diacritics, and
   Russian, Ukrainian and Bulgarian in Latin letters (`translations/translit.py`). A naive Bayes model over
   character 1-4-grams inside word boundaries, the classic language identifier, trained in a
   second at start-up.
3. Confidence. The answer is `sure` only when the best language clearly beats the runner-up on
   enough evidence; otherwise it is a `guess` (used, with a line telling the person how to pick
   their language) or nothing.

Languages outside the core set (machine-translated ones, and those the line only recognises to
say it cannot serve them) are left to lingua on longer sentences, see `detect.py`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from translations.translit import latin_variants

NLU_DIR = Path(__file__).resolve().parents[2] / "nlu_data" / "nlu"
MAX_N = 4
# Per-n-gram log-likelihood margin between the best and the second language, averaged over
# the message's n-grams, and the total margin (nats): both must clear these for `sure`.
# Chosen with bench/nlu_eval.py on tests/nlu/ (the development set), see the README.
SURE_MEAN_MARGIN = 0.1
SURE_TOTAL_MARGIN = 8.0
GUESS_TOTAL_MARGIN = 1.0

_THAI = re.compile(r"[\u0e00-\u0e7f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_ARABIC = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_LATIN = re.compile(r"[a-zA-Z\u00c0-\u024f]")
_UKRAINIAN_ONLY = re.compile(r"[іїєґІЇЄҐ]")
_RUSSIAN_ONLY = re.compile(r"[ыэёЫЭЁ]")
CYRILLIC_LANGUAGES = ("ru", "uk", "bg")
# Arabizi writes the Arabic letters Latin lacks with digits: 3 ع, 7 ح, 5 خ, 9 ق/ص, 2 ء. (Not 6: Bulgarian chat
# Latin writes ш as 6, "6te" = ще; nor 4 and 8, which English text-speak uses.) A digit inside a Latin word ("sa3dooni", "7abibti", "t3awenni") or opening one ("3ayza",
# "5ayfa") is arabizi; English text-speak uses 2 for "to" ("2day"), so 2 counts only inside a word.
# A digit opening an ordinal or a unit ("3rd floor", "7pm", "5km", "9th") is a number, not a letter.
_NUMBER_SUFFIX = r"(?:st|nd|rd|th|am|pm|km|kg|hrs?|hours?|min|mins|days?|kr|sek|eur|ans|eme|ème)"
_ARABIZI_WORD = re.compile(
    rf"(?<![\w])(?:[a-z]*[a-z][3579][a-z]+|[3579](?!{_NUMBER_SUFFIX}(?![\w]))[a-z]{{2,}}|[a-z]+2[a-z]+)(?![\w])",
    re.IGNORECASE)
# Scripts where characters, not spaces, carry the words.
UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff]")


@dataclass(frozen=True)
class Identification:
    language: str | None
    is_sure: bool
    reason: str  # script | statistics | unsure | empty


def normalise(text: str) -> str:
    """Casefolded, NFC, every run of non-letters/digits one space (digits stay: arabizi)."""
    text = unicodedata.normalize("NFC", text.casefold())
    kept = [ch if unicodedata.category(ch)[0] in "LNM" else " " for ch in text]
    return " ".join("".join(kept).split())


def word_count(text: str) -> int:
    if UNSPACED_SCRIPT.search(text):
        return len(re.sub(r"\s", "", text)) // 2
    return len(re.findall(r"\w+", text))


def ngrams(text: str) -> list[str]:
    """Character 1-4-grams inside word boundaries, plus each whole word as its own feature."""
    grams: list[str] = []
    for word in normalise(text).split():
        grams.append(f"<{word}>")
        padded = f" {word} "
        for n in range(1, MAX_N + 1):
            grams.extend(padded[i:i + n] for i in range(len(padded) - n + 1) if padded[i:i + n] != " ")
    return grams


def script_of(text: str) -> str | None:
    """The language that the script alone decides, or None."""
    if _THAI.search(text):
        return "th"
    if _HAN.search(text) and not _KANA_HANGUL.search(text):
        return "zh"
    if _ARABIC.search(text):
        return "ar"
    if _LATIN.search(text) and not _CYRILLIC.search(text) and _ARABIZI_WORD.search(text):
        return "ar"
    if _CYRILLIC.search(text):
        if _UKRAINIAN_ONLY.search(text) and not _RUSSIAN_ONLY.search(text):
            return "uk"
        if _RUSSIAN_ONLY.search(text) and not _UKRAINIAN_ONLY.search(text):
            return "ru"
    return None


def candidates_for(text: str, languages: Iterable[str]) -> list[str]:
    languages = list(languages)
    cyrillic, latin = bool(_CYRILLIC.search(text)), bool(_LATIN.search(text))
    if cyrillic and not latin:
        return [lang for lang in languages if lang in CYRILLIC_LANGUAGES]
    return languages


class NaiveBayes:
    """Multinomial naive Bayes over character n-grams, add-alpha smoothing."""

    def __init__(self, examples: Mapping[str, Iterable[str]], alpha: float = 0.01) -> None:
        self.languages = sorted(examples)
        self._counts: dict[str, Counter[str]] = {}
        vocabulary: set[str] = set()
        for lang in self.languages:
            counts: Counter[str] = Counter()
            for text in examples[lang]:
                counts.update(ngrams(text))
            self._counts[lang] = counts
            vocabulary.update(counts)
        size = len(vocabulary)
        self._log_unseen = {}
        self._log_prob: dict[str, dict[str, float]] = {}
        for lang, counts in self._counts.items():
            total = sum(counts.values()) + alpha * size
            self._log_prob[lang] = {g: math.log((c + alpha) / total) for g, c in counts.items()}
            self._log_unseen[lang] = math.log(alpha / total)
        self._vocabulary = vocabulary

    def scores(self, text: str, candidates: Iterable[str]) -> tuple[dict[str, float], int]:
        """Log-likelihood per candidate over the n-grams the model knows, and their number."""
        grams = [g for g in ngrams(text) if g in self._vocabulary]
        scores = {}
        for lang in candidates:
            table, unseen = self._log_prob[lang], self._log_unseen[lang]
            scores[lang] = sum(table.get(g, unseen) for g in grams)
        return scores, len(grams)


class LanguageIdentifier:
    def __init__(self, examples: Mapping[str, Iterable[str]]) -> None:
        self.languages = tuple(sorted(examples))
        self._model = NaiveBayes(examples)

    @classmethod
    def from_nlu_data(cls, directory: Path = NLU_DIR) -> LanguageIdentifier:
        return _identifier_for(str(directory))

    def __call__(self, text: str) -> Identification:
        if not normalise(text):
            return Identification(None, False, "empty")
        by_script = script_of(text)
        if by_script in self.languages:
            return Identification(by_script, True, "script")
        candidates = candidates_for(text, self.languages)
        scores, evidence = self._model.scores(text, candidates)
        if not evidence or not scores:
            return Identification(None, False, "unsure")
        ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
        best, best_score = ranked[0]
        margin = best_score - ranked[1][1] if len(ranked) > 1 else math.inf
        if margin >= SURE_TOTAL_MARGIN and margin / evidence >= SURE_MEAN_MARGIN:
            return Identification(best, True, "statistics")
        if margin >= GUESS_TOTAL_MARGIN:
            return Identification(best, False, "statistics")
        return Identification(None, False, "unsure")


def catalog_sentences() -> dict[str, list[str]]:
    """The catalog's own texts per language, cut into sentences: clean, plentiful text."""
    from translations.catalog import Catalog

    catalog = Catalog.load()
    sentences: dict[str, list[str]] = {}
    for lang in catalog.languages:
        texts = {catalog.raw(name, lang, form) for name in catalog.responses(lang) for form in ("web", "sms")}
        sentences[lang] = [part for text in texts if text
                           for part in re.split(r"(?<=[.!?。！？\n])\s*", re.sub(r"\{[^}]*\}", " ", text))
                           if len(part.strip()) > 3]
    return sentences


def training_examples(directory: Path = NLU_DIR, *, with_catalog: bool = True) -> dict[str, list[str]]:
    """Every NLU example per language file, with its phone-typed variants (and the catalog)."""
    examples: dict[str, list[str]] = {}
    extra = catalog_sentences() if with_catalog else {}
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        texts = []
        for block in data.get("nlu") or []:
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(line[2:].strip())
        lang = path.stem
        texts += extra.get(lang, [])
        examples[lang] = texts + [v for t in texts for v in latin_variants(t, lang)]
    return examples


@lru_cache(maxsize=4)
def _identifier_for(directory: str) -> LanguageIdentifier:
    return LanguageIdentifier(training_examples(Path(directory)))
