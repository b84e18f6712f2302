"""Outreach sources and the daily counts. Services flush; the caller's session scope commits.

The count is the only trace a source leaves: a conversation opened from a QR card adds one to
(today in Europe/Stockholm, source, language) and keeps at most the source's region.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.abuse.clients import current_client
from gateway.escalation.models import Region
from gateway.models import OutreachClientDay
from gateway.models import utcnow
from gateway.outreach.models import (
    MAX_LABEL,
    SOURCE_CODE,
    UNKNOWN_SOURCE,
    OutreachDailyCount,
    OutreachSource,
)

TZ = ZoneInfo("Europe/Stockholm")
CSV_COLUMNS = ("day", "source", "language", "conversations")


class SourceError(ValueError):
    """A source was refused (the message says why, and never contains personal data)."""


@dataclass(frozen=True)
class OpenedFrom:
    """What a new conversation takes from the source code it was opened with."""

    count_code: str  # the source's code, or UNKNOWN_SOURCE
    region_code: str | None


def normalise_code(value: str | None) -> str:
    return (value or "").strip().lower()


def local_day(at: datetime | None = None) -> date:
    return (at or utcnow()).astimezone(TZ).date()


def opened_from(session: Session, code: str | None) -> OpenedFrom | None:
    """None without a source code; an unknown or inactive code counts as UNKNOWN_SOURCE
    (a string from the internet is never stored)."""
    code = normalise_code(code)
    if not code:
        return None
    source = session.get(OutreachSource, code) if SOURCE_CODE.match(code) else None
    if source is None or not source.active or source.code == UNKNOWN_SOURCE:
        return OpenedFrom(UNKNOWN_SOURCE, None)
    return OpenedFrom(source.code, source.region_code)


def _insert_for(session: Session):  # noqa: ANN202 - the dialect's insert (with ON CONFLICT)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"no upsert for database dialect {dialect}")  # pragma: no cover


def client_may_count(session: Session, *, client_hash: str, day: date, per_day: int) -> bool:
    """One client address (keyed hash) adds at most `per_day` conversations a day to the
    outreach figures, so a script cannot pump them: one atomic INSERT ... ON CONFLICT DO
    UPDATE ... WHERE counted < per_day RETURNING, so replicas never let one more through.
    Rows of earlier days are deleted on the way (they hold nothing but a hash and a number)."""
    session.execute(delete(OutreachClientDay).where(OutreachClientDay.day < day - timedelta(days=1)))
    table = OutreachClientDay.__table__
    statement = _insert_for(session)(table).values(day=day, client_hash=client_hash, counted=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.day, table.c.client_hash],
        set_={"counted": table.c.counted + 1},
        where=table.c.counted < per_day,
    ).returning(table.c.counted)
    return session.execute(statement).first() is not None


def count_conversation(session: Session, *, source_code: str, language: str,
                       day: date | None = None, client_hash: str | None = None,
                       per_client_per_day: int | None = None) -> bool:
    """Add one to the day's count: a single INSERT ... ON CONFLICT DO UPDATE, so gateway
    replicas counting the same key at the same moment never lose one. A web chat client
    (its keyed hash; by default the one taking the current turn, gateway.abuse.clients) adds at
    most `per_client_per_day` (default: the setting) a day. Returns whether it counted."""
    day = day or local_day()
    if client_hash is None and current_client.get() is not None:
        client_hash, default_per_day = current_client.get()
        per_client_per_day = per_client_per_day or default_per_day
    if client_hash is not None:
        if not client_may_count(session, client_hash=client_hash, day=day,
                                per_day=per_client_per_day or 3):
            return False
    table = OutreachDailyCount.__table__
    insert = _insert_for(session)
    statement = insert(table).values(day=day, source_code=source_code,
                                     language=language, conversations=1)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.day, table.c.source_code, table.c.language],
        set_={"conversations": table.c.conversations + 1},
    )
    session.execute(statement)
    return True


# --- administration -----------------------------------------------------------------------

def check_code(code: str) -> str:
    code = normalise_code(code)
    if not SOURCE_CODE.match(code):
        raise SourceError("the code must be 1-32 characters: a-z, 0-9 and -, not starting with -")
    if code == UNKNOWN_SOURCE:
        raise SourceError(f"{UNKNOWN_SOURCE!r} is reserved for unrecognised codes")
    return code


def check_label(label: str) -> str:
    label = " ".join(label.split())
    if not 1 <= len(label) <= MAX_LABEL:
        raise SourceError(f"the label must be 1-{MAX_LABEL} characters")
    return label


def add_source(session: Session, *, code: str, label: str,
               region_code: str | None = None) -> OutreachSource:
    code, label = check_code(code), check_label(label)
    region_code = normalise_code(region_code) or None
    if region_code is not None and session.get(Region, region_code) is None:
        raise SourceError(f"unknown region {region_code!r}")
    if session.get(OutreachSource, code) is not None:
        raise SourceError(f"a source with the code {code!r} already exists")
    source = OutreachSource(code=code, label=label, region_code=region_code, active=True,
                            created_at=utcnow())
    session.add(source)
    session.flush()
    return source


def set_active(session: Session, code: str, active: bool) -> OutreachSource:
    source = session.get(OutreachSource, normalise_code(code))
    if source is None:
        raise SourceError("no such source")
    source.active = active
    session.flush()
    return source


def list_sources(session: Session, *, active_only: bool = False) -> Sequence[OutreachSource]:
    query = select(OutreachSource).order_by(OutreachSource.code)
    if active_only:
        query = query.where(OutreachSource.active.is_(True))
    return session.scalars(query).all()


def daily_counts(session: Session, *, since: date,
                 until: date | None = None) -> Sequence[OutreachDailyCount]:
    query = (select(OutreachDailyCount).where(OutreachDailyCount.day >= since)
             .order_by(OutreachDailyCount.day, OutreachDailyCount.source_code,
                       OutreachDailyCount.language))
    if until is not None:
        query = query.where(OutreachDailyCount.day <= until)
    return session.scalars(query).all()


def counts_csv(rows: Sequence[OutreachDailyCount]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow((row.day.isoformat(), row.source_code, row.language, row.conversations))
    return out.getvalue()
