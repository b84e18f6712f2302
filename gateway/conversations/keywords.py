"""Words a person can type on any channel that the gateway handles itself, before Rasa.

A keyword only counts when it is the whole message (so "delete my data?" is a question for
the bot, while "DELETE" erases). Matching ignores case, accents and surrounding punctuation,
because people text without diacritics.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

from translations.languages import CORE_LANGUAGES

# The words each language's texts tell people to type (see the catalog's utter_goodbye,
# utter_privacy and utter_default); English works everywhere.
DELETE_WORDS = ["delete", "radera", "sterge", "șterge", "usun", "usuń", "torles", "törlés",
                "изтрий", "удалить", "видалити", "borrar", "effacer", "ลบ", "删除", "حذف"]
MENU_WORDS = ["language", "språk", "limba", "limbă", "język", "nyelv", "език", "язык", "мова",
              "idioma", "langue", "ภาษา", "语言", "لغة", "lang"]
# Names a person may type to pick a language: its own name (also as written in the SMS
# menu, in Latin letters) and its English name.
LANGUAGE_NAMES = {
    "sv": ["svenska", "swedish"],
    "en": ["english", "engelska"],
    "ro": ["romana", "romanian", "limba romana"],
    "bg": ["balgarski", "bulgarian", "bulgarski"],
    "hu": ["magyar", "hungarian"],
    "pl": ["polski", "polish"],
    "ru": ["russkiy", "russian", "russkij", "po russki"],
    "uk": ["ukrainska", "ukrainian", "ukrainskyi"],
    "es": ["espanol", "spanish", "castellano"],
    "fr": ["francais", "french"],
    "th": ["thai", "ภาษาไทย"],
    "zh": ["zhongwen", "chinese", "中文", "汉语", "普通话"],
    "ar": ["arabiya", "arabic", "عربي", "عربى"],
}

_STRIP = " \t\r\n.,!?¡¿:;\"'«»“”„()[]-–—。！？“”"


def normalise(text: str) -> str:
    text = text.strip(_STRIP).casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    # Drop Latin/Cyrillic combining accents only; Thai and Arabic marks carry meaning.
    return "".join(
        ch for ch in decomposed
        if not (unicodedata.combining(ch) and "\u0300" <= ch <= "\u036f")
    )


@dataclass(frozen=True)
class Keyword:
    kind: Literal["delete", "menu", "choose_language"]
    language: str | None = None


_TABLE: dict[str, Keyword] = {}
for _word in DELETE_WORDS:
    _TABLE[normalise(_word)] = Keyword("delete")
for _word in MENU_WORDS:
    _TABLE[normalise(_word)] = Keyword("menu")
for _code, _own_name in CORE_LANGUAGES.items():
    for _name in [_code, _own_name, *LANGUAGE_NAMES[_code]]:
        _TABLE[normalise(_name)] = Keyword("choose_language", _code)


def match_keyword(text: str) -> Keyword | None:
    if len(text) > 40:
        return None
    return _TABLE.get(normalise(text))
