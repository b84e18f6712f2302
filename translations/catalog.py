"""The content catalog: gettext PO files, loaded once at start-up.

Each entry's msgctxt is "<response>|<form>" (form: web or sms); msgid is the English source.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import polib
import yaml

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
CONTACTS_FILE = Path(__file__).resolve().parent / "contacts.yml"
FACTS_FILE = Path(__file__).resolve().parent / "facts.yml"
FORMS = ("web", "sms")
# Placeholders whose value comes from the deployment's settings, not from a data file: the
# caller passes them to render() (the gateway's NLG fills them from Settings).
RUNTIME_PLACEHOLDERS = frozenset({"retention_days"})
# The SMS keyword that sends the full answer; an SMS form that leaves out a fact of its web
# form must say so by naming it (tests/unit/test_content_facts.py).
MORE_KEYWORD = "MORE"
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


@dataclass(frozen=True)
class Facts:
    """Numbers and durations from the law (facts.yml), each with its source and date checked."""

    last_checked: date
    values: dict[str, str]

    @classmethod
    def load(cls, path: Path = FACTS_FILE) -> Facts:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        values = {key: str(entry["value"]) for key, entry in data["facts"].items()}
        return cls(last_checked=date.fromisoformat(str(data["last_checked"])), values=values)


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
        facts: Facts | None = None,
    ) -> None:
        self._entries = entries
        self._responses = {lang: {name for name, _ in table} for lang, table in entries.items()}
        self.languages = languages
        self.contacts = contacts
        self.facts = facts or Facts.load()
        overlap = set(self.contacts.numbers) & set(self.facts.values)
        if overlap:
            raise CatalogError(f"placeholders in both contacts.yml and facts.yml: {sorted(overlap)}")

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

    def render(
        self, response: str, lang: str, form: Form, values: Mapping[str, object] | None = None
    ) -> str:
        """The text for a response in a language, with contacts and facts filled in.

        `values` fills the runtime placeholders (RUNTIME_PLACEHOLDERS, e.g. {retention_days});
        a text that needs one the caller did not pass raises KeyError rather than going out
        with a hole in it.

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
        return text.format_map({**self.values(), **(values or {})})

    def values(self) -> dict[str, str]:
        """Every data-file placeholder: contacts, the date they were checked, and facts."""
        return {**self.facts.values, **self.contacts.numbers,
                "contacts_checked": self.contacts.last_checked.isoformat()}
