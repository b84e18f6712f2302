"""Outreach sources, QR cards and counts: python -m gateway.outreach.cli <command> --help

    sources add CODE --label TEXT [--region CODE]   a team or campaign code (never a person)
    sources list
    sources deactivate CODE
    card --source CODE --lang ro --out DIR [--base-url URL]   writes CODE-ro.svg/.png/.pdf
    counts --since YYYY-MM-DD [--until YYYY-MM-DD] [--csv]   conversations opened per day

The database is RIGHTSLINE_DATABASE_URL, the chat's address RIGHTSLINE_PUBLIC_BASE_URL and the
card's SMS number RIGHTSLINE_TWILIO_FROM_NUMBER, as for the gateway.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from gateway.config import get_settings
from gateway.db import Database, database_error_for_people
from gateway.outreach import cards
from gateway.outreach.models import OutreachSource
from gateway.outreach.service import (
    SourceError,
    add_source,
    counts_csv,
    daily_counts,
    list_sources,
    normalise_code,
    set_active,
)
from translations.catalog import Catalog


class CliError(Exception):
    """A problem to report as one line on stderr, with a non-zero exit."""


def _database() -> Database:
    return Database(get_settings().database_url)


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} must be a date YYYY-MM-DD") from None


def cmd_sources_add(args: argparse.Namespace) -> None:
    with _database().session() as session:
        source = add_source(session, code=args.code, label=args.label, region_code=args.region)
        code, region = source.code, source.region_code
    print(f"source {code!r} added" + (f" (region {region})" if region else " (no region)"))


def cmd_sources_list(args: argparse.Namespace) -> None:
    with _database().session() as session:
        rows = [(s.code, "active" if s.active else "inactive", s.region_code or "-", s.label)
                for s in list_sources(session)]
    if not rows:
        print("no sources yet")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])


def cmd_sources_deactivate(args: argparse.Namespace) -> None:
    with _database().session() as session:
        code = set_active(session, args.code, False).code
    print(f"source {code!r} deactivated (new conversations from it count as 'unknown')")


def cmd_card(args: argparse.Namespace) -> None:
    settings = get_settings()
    code, lang = normalise_code(args.source), args.lang.strip().lower()
    with _database().session() as session:
        source = session.get(OutreachSource, code)
        if source is None or not source.active:
            raise CliError(f"no active source {code!r} (see: sources list)")
    catalog = Catalog.load()
    url = cards.chat_url(args.base_url or settings.public_base_url, lang, code)
    sms_number = cards.card_sms_number(settings)
    if sms_number is None:
        print("warning: no SMS number (RIGHTSLINE_TWILIO_FROM_NUMBER): the card has none",
              file=sys.stderr)
    pdf = cards.card_pdf(url, cards.card_texts(catalog, lang), sms_number)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{code}-{lang}"
    stem.with_suffix(".svg").write_bytes(cards.qr_svg(url))
    stem.with_suffix(".png").write_bytes(cards.qr_png(url))
    stem.with_suffix(".pdf").write_bytes(pdf)
    print(f"{url}\nwrote {stem}.svg, {stem}.png, {stem}.pdf")


def cmd_counts(args: argparse.Namespace) -> None:
    since = _date(args.since, "--since")
    until = _date(args.until, "--until") if args.until else None
    with _database().session() as session:
        rows = daily_counts(session, since=since, until=until)
        if args.csv:
            sys.stdout.write(counts_csv(rows))
            return
        table = [(r.day.isoformat(), r.source_code, r.language, str(r.conversations))
                 for r in rows]
    if not table:
        print("no conversations counted in that period")
        return
    header = ("day", "source", "language", "conversations")
    widths = [max(len(x[i]) for x in (header, *table)) for i in range(4)]
    for row in (header, *table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"total: {sum(int(r[3]) for r in table)}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.outreach.cli",
        description="Outreach sources, QR cards and per-source daily counts.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sources = commands.add_parser("sources", help="add, list or deactivate sources")
    sub = sources.add_subparsers(dest="sources_command", required=True, metavar="ACTION")
    p = sub.add_parser("add", help="add a source (a team or campaign, never a person)")
    p.add_argument("code", help="1-32 characters: a-z, 0-9 and -")
    p.add_argument("--label", required=True, help="short description, no personal data")
    p.add_argument("--region", help="coordinator region code, e.g. syd")
    p.set_defaults(run=cmd_sources_add)
    p = sub.add_parser("list", help="list the sources")
    p.set_defaults(run=cmd_sources_list)
    p = sub.add_parser("deactivate", help="stop counting a source under its own code")
    p.add_argument("code")
    p.set_defaults(run=cmd_sources_deactivate)

    p = commands.add_parser("card", help="write the QR code (SVG, PNG) and the card (PDF)")
    p.add_argument("--source", required=True)
    p.add_argument("--lang", required=True, help="catalog language code, e.g. ro")
    p.add_argument("--out", required=True, help="directory to write into")
    p.add_argument("--base-url", help="the chat's public address (default: "
                                      "RIGHTSLINE_PUBLIC_BASE_URL)")
    p.set_defaults(run=cmd_card)

    p = commands.add_parser("counts", help="conversations opened per day, source and language")
    p.add_argument("--since", required=True, help="first day, YYYY-MM-DD (Europe/Stockholm)")
    p.add_argument("--until", help="last day, YYYY-MM-DD")
    p.add_argument("--csv", action="store_true", help="CSV on stdout")
    p.set_defaults(run=cmd_counts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (CliError, SourceError, cards.CardError, cards.FontsMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except DBAPIError as exc:
        print(f"error: {database_error_for_people(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
