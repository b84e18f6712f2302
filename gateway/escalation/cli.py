"""Escalation administration: python -m gateway.escalation.cli <command> --help

    sync-regions                          load regions.yml into the database
    create-admin --username U --name N    console administrator (password prompted)
    add-coordinator --username U --name N --region R --pager +46...
    import-rota FILE                      CSV in Swedish local time ("-" reads stdin)
    export-rota [--since YYYY-MM-DD]
    on-call [--at "YYYY-MM-DD HH:MM"]     who is primary/backup per region (names only)
    reset-password --username U           new console password (prompted); ends their sessions
    reset-second-factor --username U      lost phone: their next sign-in sets up a new one

Passwords are read with getpass, or from RIGHTSLINE_NEW_PASSWORD for scripts. The database is
RIGHTSLINE_DATABASE_URL, as for the gateway. Nothing here ever prints a phone number.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from gateway.config import get_settings
from gateway.console.auth import end_all_sessions, reset_second_factor
from gateway.db import Database, database_error_for_people
from gateway.escalation.models import PAGER_NUMBER, STAFF_USERNAME, Region, StaffUser
from gateway.escalation.passwords import check_password_strength, hash_password
from gateway.escalation.regions import area_key, load_regions, sync_regions
from gateway.escalation.rota import (
    POSITIONS,
    RotaError,
    export_rota,
    format_local,
    import_rota,
    on_call_now,
    parse_local,
)
from gateway.escalation.service import audit
from gateway.models import utcnow
from gateway.messaging.vault import NumberVault, normalise_number

PASSWORD_ENV = "RIGHTSLINE_NEW_PASSWORD"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class CliError(Exception):
    """A problem to report as one line on stderr, with a non-zero exit."""


def _database() -> Database:
    return Database(get_settings().database_url)


def _check_username(username: str) -> str:
    username = username.strip()
    if not STAFF_USERNAME.match(username):
        raise CliError("the username must be 2-64 characters: letters, digits, . _ @ -")
    return username


def _check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise CliError("the name must be 1-100 characters")
    return name


def _read_password() -> str:
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat the password: ") != password:
            raise CliError("the two passwords differ")
    try:
        check_password_strength(password)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return hash_password(password)


def _region_code(session, value: str) -> str:  # noqa: ANN001
    wanted = area_key(value)
    regions = session.execute(select(Region.code, Region.name)).all()
    if not regions:
        raise CliError("there are no regions yet: run sync-regions first")
    for code, name in regions:
        if wanted in (area_key(code), area_key(name)):
            return code
    raise CliError(f"unknown region {value!r} (known: {', '.join(sorted(c for c, _ in regions))})")


def _ensure_new_username(session, username: str) -> None:  # noqa: ANN001
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise CliError(f"a staff user named {username!r} already exists")


def cmd_sync_regions(args: argparse.Namespace) -> None:
    specs = load_regions()
    with _database().session() as session:
        changes = sync_regions(session)
    areas = sum(len(s.areas) for s in specs)
    print(f"regions synced: {len(specs)} regions, {areas} counties and places, "
          f"{changes} row(s) changed")


def cmd_create_admin(args: argparse.Namespace) -> None:
    username, name = _check_username(args.username), _check_name(args.name)
    db = _database()
    with db.session() as session:
        _ensure_new_username(session, username)
    password_hash = _read_password()  # no transaction open while someone types
    with db.session() as session:
        session.add(StaffUser(username=username, name=name, role="admin",
                              password_hash=password_hash, failed_logins=0, is_active=True))
    print(f"administrator {username!r} created")


def cmd_add_coordinator(args: argparse.Namespace) -> None:
    username, name = _check_username(args.username), _check_name(args.name)
    pager = normalise_number(args.pager)
    if not PAGER_NUMBER.match(pager):
        # Never echo the number back.
        raise CliError("the pager number must be in international form: + and the country "
                       "code instead of the leading 0 (+46...)")
    settings = get_settings()
    vault = NumberVault(settings.sender_hash_key.get_secret_value(),
                        settings.encryption_key.get_secret_value())
    pager_hash = vault.sender_hash(pager)
    db = _database()
    with db.session() as session:
        region = _region_code(session, args.region)
        _ensure_new_username(session, username)
        sharing = session.scalars(
            select(StaffUser.username).where(StaffUser.pager_hash == pager_hash)
        ).all()
    if sharing:
        print(f"warning: {', '.join(sharing)} already use(s) this pager number; "
              "acknowledgements from it cannot tell the users apart", file=sys.stderr)
    password_hash = _read_password() if args.password or PASSWORD_ENV in os.environ else None
    with db.session() as session:
        session.add(StaffUser(username=username, name=name, role="coordinator",
                              region_code=region, pager_encrypted=vault.encrypt(pager),
                              pager_hash=pager_hash, password_hash=password_hash,
                              failed_logins=0, is_active=True))
    login = "with" if password_hash else "without"
    print(f"coordinator {username!r} created for region {region} ({login} console password)")


def cmd_import_rota(args: argparse.Namespace) -> None:
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8-sig") as handle:
                text = handle.read()
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{args.file} is not UTF-8 text (save the CSV as UTF-8)") from None
    with _database().session() as session:
        inserted = import_rota(session, text)
    print(f"rota imported: {inserted} shift(s) added")


def cmd_export_rota(args: argparse.Namespace) -> None:
    since = None
    if args.since:
        if not _DATE.match(args.since):
            raise CliError("--since must be a date YYYY-MM-DD")
        try:
            since = parse_local(f"{args.since} 00:00")
        except ValueError as exc:
            raise CliError(f"--since: {exc}") from None
    with _database().session() as session:
        sys.stdout.write(export_rota(session, since=since))


def cmd_on_call(args: argparse.Namespace) -> None:
    if args.at:
        try:
            at = parse_local(args.at)
        except ValueError as exc:
            raise CliError(f"--at: {exc}") from None
    else:
        at = utcnow()
    names = {s.code: s.name for s in load_regions()}
    with _database().session() as session:
        names.update(dict(session.execute(select(Region.code, Region.name)).all()))
        table = on_call_now(session, at)
    if not table:
        raise CliError("there are no regions yet: run sync-regions first")
    print(f"On call at {format_local(at)} (Europe/Stockholm):")
    rows = []
    for code in sorted(table, key=lambda c: names.get(c, c)):
        cells = [names.get(code, code)]
        for position in POSITIONS:
            staff = table[code][position]
            # Names only: never the pager number.
            who = f"{staff.name} ({staff.username})" if staff else "NOBODY"
            cells.append(f"{position}: {who}")
        rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def _staff_id(session, username: str) -> int:  # noqa: ANN001
    staff_id = session.scalar(select(StaffUser.id).where(StaffUser.username == username.strip()))
    if staff_id is None:
        raise CliError(f"no staff user named {username.strip()!r}")
    return staff_id


def cmd_reset_password(args: argparse.Namespace) -> None:
    db = _database()
    with db.session() as session:
        _staff_id(session, args.username)
    password_hash = _read_password()  # no transaction open while someone types
    with db.session() as session:
        staff_id = _staff_id(session, args.username)
        session.execute(update(StaffUser).where(StaffUser.id == staff_id)
                        .values(password_hash=password_hash, failed_logins=0, locked_until=None))
        ended = end_all_sessions(session, staff_id)
        audit(session, actor="cli", action="password_reset", detail=f"staff:{staff_id}",
              now=utcnow())
    print(f"password of {args.username.strip()!r} reset; {ended} console session(s) ended")


def cmd_reset_second_factor(args: argparse.Namespace) -> None:
    with _database().session() as session:
        staff_id = _staff_id(session, args.username)
        reset_second_factor(session, staff_id)
        audit(session, actor="cli", action="second_factor_reset", detail=f"staff:{staff_id}",
              now=utcnow())
    print(f"second factor of {args.username.strip()!r} reset: their console sessions ended, "
          "and their next sign-in (with the password) sets up a new one")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.escalation.cli",
        description="Regions, staff and the on-call rota for escalation.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("sync-regions", help="load regions.yml into the database")
    p.set_defaults(run=cmd_sync_regions)

    p = commands.add_parser("create-admin", help="create a console administrator")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(run=cmd_create_admin)

    p = commands.add_parser("add-coordinator", help="add a regional coordinator")
    p.add_argument("--username", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--region", required=True, help="region code or name, e.g. vast or Väst")
    p.add_argument("--pager", required=True, help="work phone for pages, +46...")
    p.add_argument("--password", action="store_true",
                   help=f"also set a console password (prompted, or ${PASSWORD_ENV}; "
                        f"set automatically when ${PASSWORD_ENV} is set)")
    p.set_defaults(run=cmd_add_coordinator)

    p = commands.add_parser("import-rota", help="import on-call shifts from a CSV file")
    p.add_argument("file", help='CSV file ("-" for stdin)')
    p.set_defaults(run=cmd_import_rota)

    p = commands.add_parser("export-rota", help="write the rota as CSV to stdout")
    p.add_argument("--since", help="only shifts ending after this date (YYYY-MM-DD)")
    p.set_defaults(run=cmd_export_rota)

    p = commands.add_parser("on-call", help="who is on call in each region")
    p.add_argument("--at", help='Swedish local time "YYYY-MM-DD HH:MM" (default: now)')
    p.set_defaults(run=cmd_on_call)

    p = commands.add_parser("reset-password",
                            help="set a new console password (ends the user's sessions)")
    p.add_argument("--username", required=True)
    p.set_defaults(run=cmd_reset_password)

    p = commands.add_parser("reset-second-factor",
                            help="remove a user's TOTP and recovery codes (a lost phone)")
    p.add_argument("--username", required=True)
    p.set_defaults(run=cmd_reset_second_factor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RotaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\ncancelled", file=sys.stderr)
        return 130
    except DBAPIError as exc:
        print(f"error: {database_error_for_people(exc)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
