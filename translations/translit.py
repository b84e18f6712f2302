"""How people type a language on a phone without its letters: no diacritics, or Cyrillic in
Latin letters. Used to teach the language identifier forms that the training examples do not
spell out ("pomogite", "kade da spya", "tsentr", "Ce inseamna", "hjalp").

The tables follow the informal ("chat") transliteration people use, not a library standard:
one common variant and one alternative per language (kh/h, ya/ja, sh/š ...).
"""

from __future__ import annotations

import unicodedata

_LATIN_WITH_DIACRITICS = frozenset({"sv", "ro", "hu", "pl", "es", "fr"})
# Letters that do not decompose into a base letter plus an accent.
_NOT_DECOMPOSABLE = str.maketrans({"ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe"})

_COMMON = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ь": "", "ю": "yu", "я": "ya", "ё": "yo", "ы": "y", "э": "e",
    "є": "ye", "і": "i", "ї": "yi", "ґ": "g",
}
_TABLES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "ru": ({**_COMMON, "х": "kh"}, {**_COMMON, "й": "j", "ю": "ju", "я": "ja", "ц": "c", "ш": "sh", "щ": "sch",
                                    "ж": "j", "ё": "e", "ы": "i", "ь": "'"}),
    # Ukrainian г is h, и is y
    "uk": ({**_COMMON, "г": "h", "и": "y", "х": "kh"}, {**_COMMON, "г": "g", "и": "i", "й": "j", "ю": "ju",
                                                         "я": "ja", "є": "je", "ї": "i", "ц": "c"}),
    # Bulgarian щ is sht, ъ a vowel (a / u)
    "bg": ({**_COMMON, "щ": "sht", "ъ": "a"}, {**_COMMON, "щ": "sht", "ъ": "u", "й": "i", "ю": "iu", "я": "ia",
                                               "ц": "c", "ж": "j"}),
}


# Bulgarian "shlyokavitsa": chat Latin with digits and q for the letters Latin lacks.
_BG_CHAT = {**_COMMON, "ш": "6", "ч": "4", "щ": "6t", "я": "q", "ю": "iu", "ж": "j", "ъ": "y", "ц": "c"}


def strip_diacritics(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_NOT_DECOMPOSABLE))
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def transliterate(text: str, table: dict[str, str]) -> str:
    out = []
    for ch in text:
        lower = ch.lower()
        if lower in table:
            latin = table[lower]
            out.append(latin.capitalize() if ch != lower else latin)
        else:
            out.append(ch)
    return "".join(out)


def latin_variants(text: str, language: str) -> list[str]:
    """Other ways a person may type this text; empty when there are none."""
    variants: list[str] = []
    if language in _LATIN_WITH_DIACRITICS:
        variants.append(strip_diacritics(text))
    elif language in _TABLES:
        variants.extend(transliterate(text, table) for table in _TABLES[language])
        if language == "bg":
            variants.append(transliterate(text, _BG_CHAT))
    return [v for v in dict.fromkeys(variants) if v != text]


def cyrillic_to_latin(text: str) -> str:
    """One common informal Latin spelling of any Russian, Ukrainian or Bulgarian text."""
    return transliterate(text, _COMMON)
