"""The content catalog: gettext PO files, loaded once at start-up.

Each entry's msgctxt is "<response>|<form>" (form: web or sms); msgid is the English source.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import polib
import yaml

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
CONTACTS_FILE = Path(__file__).resolve().parent / "contacts.yml"
FORMS = ("web", "sms")
Form = Literal["web", "sms"]


class CatalogError(Exception):
    pass


class UnknownResponse(CatalogError):
    pass


@dataclass(frozen=True)
class Contacts:
    last_checked: date
    numbers: dict[str, str]

    @classmethod
    def load(cls, path: Path = CONTACTS_FILE) -> Contacts:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        numbers = {key: str(entry["number"]) for key, entry in data["contacts"].items()}
        return cls(last_checked=date.fromisoformat(str(data["last_checked"])), numbers=numbers)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@dataclass(frozen=True)
class LanguageInfo:
    code: str
    status: str  # draft | reviewed


class Catalog:
    def __init__(
        self,
        entries: dict[str, dict[tuple[str, str], str]],
        languages: dict[str, LanguageInfo],
        contacts: Contacts,
    ) -> None:
        self._entries = entries
        self._responses = {lang: {name for name, _ in table} for lang, table in entries.items()}
        self.languages = languages
        self.contacts = contacts

    @classmethod
    def load(cls, directory: Path = CATALOG_DIR, contacts: Contacts | None = None) -> Catalog:
        entries: dict[str, dict[tuple[str, str], str]] = {}
        languages: dict[str, LanguageInfo] = {}
        for po_path in sorted(directory.glob("*/messages.po")):
            lang = po_path.parent.name
            table: dict[tuple[str, str], str] = {}
            for entry in polib.pofile(str(po_path)):
                if not entry.msgctxt or entry.obsolete or "fuzzy" in entry.flags:
                    continue
                response, _, form = entry.msgctxt.partition("|")
                text = entry.msgstr or (entry.msgid if lang == "en" else "")
                if text:
                    table[(response, form)] = text
            entries[lang] = table
            status_file = po_path.parent / "status.yml"
            status = "draft"
            if status_file.exists():
                status = str(yaml.safe_load(status_file.read_text(encoding="utf-8"))["status"])
            languages[lang] = LanguageInfo(code=lang, status=status)
        if "en" not in entries:
            raise CatalogError(f"no English source catalog under {directory}")
        return cls(entries, languages, contacts or Contacts.load())

    def has_language(self, lang: str) -> bool:
        return lang in self._entries

    def raw(self, response: str, lang: str, form: Form) -> str | None:
        return self._entries.get(lang, {}).get((response, form))

    def responses(self, lang: str = "en") -> frozenset[str]:
        return frozenset(self._responses.get(lang, ()))

    def has_response(self, name: str) -> bool:
        return name in self._responses["en"]

    def render(self, response: str, lang: str, form: Form) -> str:
        """The text for a response in a language, with contacts filled in.

        A core language missing an entry falls back to the English source (the completeness
        test keeps that from happening in a release). Raises UnknownResponse if English does
        not have it either.
        """
        text = None
        for candidate in (lang, "en"):
            text = self.raw(response, candidate, form) or self.raw(response, candidate, "web")
            if text is not None:
                break
        if text is None:
            raise UnknownResponse(f"{response} has no text in {lang}")
        return text.format_map(self.contacts.numbers)
