"""Which translations wait for review because their English source changed (issue 12).

English is the source language (`catalog/en/messages.po`, msgid = msgstr). For every other
language, `catalog/<lang>/reviewed.yml` records, per entry (its msgctxt, `<response>|<form>`),
a hash of the English text the translation was written or last reviewed against. When an
English text changes, its hash no longer matches in any language: every translation of it
waits for review until a reviewer checks it and runs `mark`. A translator never sees a
silently outdated text: `status` lists it.

    python -m translations.review status [--language xx] [--list] [--check]
    python -m translations.review mark --language xx (--all | --entry ID [--entry ID ...])
    python -m translations.review init      # one-time: a sidecar for languages without one

An entry waits when
- `changed`: the English text changed since the translation was written or reviewed;
- `unreviewed`: the entry has no record (new in English, or added without a review);
- `missing`: the language has no translation of it at all.

This file is separate from `status.yml` (draft / reviewed for the language as a whole):
`mark` records that a translation matches its current English source; it does not make a
draft language reviewed. The catalog loader reads only messages.po and status.yml.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polib
import yaml

from translations.catalog import CATALOG_DIR

SOURCE = "en"
SIDECAR = "reviewed.yml"
HEADER = (
    "# The English source each {lang} translation was written or last reviewed against: per\n"
    "# entry (msgctxt), a hash of the English text. Written by `python -m translations.review\n"
    "# mark` after a reviewer checks a translation; never edit by hand. An entry whose English\n"
    "# changed since waits for review (`make review-status`). Not the language's status:\n"
    "# that is status.yml.\n"
)


def source_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _entries(po_path: Path) -> dict[str, polib.POEntry]:
    return {entry.msgctxt: entry for entry in polib.pofile(str(po_path))
            if entry.msgctxt and not entry.obsolete}


def english(directory: Path = CATALOG_DIR) -> dict[str, str]:
    """msgctxt -> hash of the English text, in the English file's order."""
    return {ctx: source_hash(entry.msgid)
            for ctx, entry in _entries(directory / SOURCE / "messages.po").items()}


def languages(directory: Path = CATALOG_DIR) -> list[str]:
    return sorted(p.parent.name for p in directory.glob("*/messages.po")
                  if p.parent.name != SOURCE)


def _translated(directory: Path, lang: str) -> set[str]:
    return {ctx for ctx, entry in _entries(directory / lang / "messages.po").items()
            if entry.msgstr.strip()}


def read_sidecar(directory: Path, lang: str) -> dict[str, str]:
    path = directory / lang / SIDECAR
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in (data.get("entries") or {}).items()}


def write_sidecar(directory: Path, lang: str, records: dict[str, str],
                  order: list[str]) -> None:
    """In the English file's order, then any record English no longer has (kept: harmless,
    and an entry that comes back with the same text needs no second review)."""
    ordered = {ctx: records[ctx] for ctx in order if ctx in records}
    ordered.update({ctx: h for ctx, h in sorted(records.items()) if ctx not in ordered})
    text = HEADER.format(lang=lang) + yaml.safe_dump(
        {"entries": ordered}, allow_unicode=True, sort_keys=False, width=200)
    (directory / lang / SIDECAR).write_text(text, encoding="utf-8")


@dataclass
class LanguageReview:
    lang: str
    status: str  # the language's status.yml: draft | reviewed
    total: int
    changed: list[str] = field(default_factory=list)
    unreviewed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> int:
        return len(self.changed) + len(self.unreviewed) + len(self.missing)


def _status_of(directory: Path, lang: str) -> str:
    path = directory / lang / "status.yml"
    if not path.exists():
        return "draft"
    return str((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("status", "draft"))


def review(directory: Path = CATALOG_DIR, lang: str | None = None) -> list[LanguageReview]:
    source = english(directory)
    out = []
    for code in ([lang] if lang else languages(directory)):
        if not (directory / code / "messages.po").exists():
            raise SystemExit(f"no catalog for language {code!r}")
        records, translated = read_sidecar(directory, code), _translated(directory, code)
        result = LanguageReview(code, _status_of(directory, code), len(source))
        for ctx, current in source.items():
            if ctx not in translated:
                result.missing.append(ctx)
            elif ctx not in records:
                result.unreviewed.append(ctx)
            elif records[ctx] != current:
                result.changed.append(ctx)
        out.append(result)
    return out


def mark(directory: Path, lang: str, entries: list[str] | None) -> list[str]:
    """Record the current English hash for the given entries (None: every translated entry)
    of one language, after a reviewer checked them. Returns the entries marked."""
    if lang == SOURCE:
        raise SystemExit("English is the source: nothing to review against")
    source = english(directory)
    translated = _translated(directory, lang)
    if entries is None:
        chosen = [ctx for ctx in source if ctx in translated]
    else:
        unknown = [ctx for ctx in entries if ctx not in source]
        untranslated = [ctx for ctx in entries if ctx in source and ctx not in translated]
        if unknown:
            raise SystemExit(f"not an English entry: {', '.join(unknown)}")
        if untranslated:
            raise SystemExit(f"{lang} has no translation of: {', '.join(untranslated)}")
        chosen = entries
    records = read_sidecar(directory, lang)
    records.update({ctx: source[ctx] for ctx in chosen})
    write_sidecar(directory, lang, records, list(source))
    return chosen


def init(directory: Path = CATALOG_DIR) -> list[str]:
    """One time: for each language without a sidecar, record every current translation as
    written against the current English (status.yml, draft or reviewed, is left as it is)."""
    done = []
    for lang in languages(directory):
        if not (directory / lang / SIDECAR).exists():
            mark(directory, lang, None)
            done.append(lang)
    return done


def print_status(results: list[LanguageReview], *, listing: bool, file=None) -> None:  # noqa: ANN001
    file = file or sys.stdout
    print(f"{'lang':<5} {'status':<9} {'entries':>7} {'waiting':>7} {'changed':>7} "
          f"{'unreviewed':>10} {'missing':>7}", file=file)
    for r in results:
        print(f"{r.lang:<5} {r.status:<9} {r.total:>7} {r.waiting:>7} {len(r.changed):>7} "
              f"{len(r.unreviewed):>10} {len(r.missing):>7}", file=file)
        if listing:
            for kind in ("changed", "unreviewed", "missing"):
                for ctx in getattr(r, kind):
                    print(f"      {kind:<10} {ctx}", file=file)
    total = sum(r.waiting for r in results)
    print(f"{total} translation(s) wait for review" if total else "nothing waits for review",
          file=file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m translations.review",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=CATALOG_DIR, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)
    st = sub.add_parser("status", help="per language, how many entries wait for review")
    st.add_argument("--language")
    st.add_argument("--list", action="store_true", help="name the entries that wait")
    st.add_argument("--check", action="store_true", help="exit 1 when anything waits")
    mk = sub.add_parser("mark", help="record that a reviewer checked translations")
    mk.add_argument("--language", required=True)
    which = mk.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true")
    which.add_argument("--entry", action="append", metavar="MSGCTXT")
    sub.add_parser("init", help="create the record for languages that have none")
    args = parser.parse_args(argv)

    if args.command == "status":
        results = review(args.catalog, args.language)
        print_status(results, listing=args.list or bool(args.language))
        return 1 if args.check and any(r.waiting for r in results) else 0
    if args.command == "mark":
        marked = mark(args.catalog, args.language, None if args.all else args.entry)
        print(f"{args.language}: {len(marked)} entr{'y' if len(marked) == 1 else 'ies'} "
              "recorded as reviewed against the current English")
        return 0
    done = init(args.catalog)
    print(f"initialised: {', '.join(done) or 'none (every language has a record)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
