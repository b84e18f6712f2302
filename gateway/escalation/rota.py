"""The on-call rota: who is primary and backup for each region, and when.

Shifts are stored in UTC. People plan them in Swedish local time, so the CSV uses
Europe/Stockholm wall-clock times:

    region,username,position,starts,ends,override
    syd,anna.k,primary,2026-03-28 20:00,2026-03-29 08:00,no

region: a region code (or its name: "Väst"); position: primary | backup; override: yes | no
(empty means no); starts/ends: "YYYY-MM-DD HH:MM". A wall-clock time that does not exist
(the hour skipped when clocks go forward in March) is refused. One that happens twice (the
hour repeated when clocks go back in October) needs its UTC offset, "2026-10-25 02:30+01:00",
and the export writes the offset there, so export -> import always gives the same shifts.
Semicolons are accepted instead of commas (Swedish spreadsheets), and lines starting with #
are ignored.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from gateway.escalation.models import OnCallShift, Region, StaffUser
from gateway.escalation.regions import area_key
from gateway.models import utcnow

TZ = ZoneInfo("Europe/Stockholm")
COLUMNS = ("region", "username", "position", "starts", "ends", "override")
POSITIONS = ("primary", "backup")
_YES, _NO = {"yes"}, {"no", ""}
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?:\s*([+-])(\d{2}):?(\d{2}))?$"
)


class RotaError(ValueError):
    """The rota was refused. `errors` holds (line number, problem) for every problem found."""

    def __init__(self, errors: list[tuple[int, str]]) -> None:
        self.errors = errors
        lines = "\n".join(f"line {line}: {problem}" for line, problem in errors)
        super().__init__(f"the rota was not imported ({len(errors)} problem(s)):\n{lines}")


def as_utc(value: datetime) -> datetime:
    """A stored timestamp in UTC (SQLite gives back naive UTC; PostgreSQL an aware one)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware (got a naive datetime)")
    return value.astimezone(UTC)


def _format_offset(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_local(value: str) -> datetime:
    """ "YYYY-MM-DD HH:MM" in Europe/Stockholm (optionally "+01:00") -> an aware UTC datetime.

    Raises ValueError with a message fit to show to the person who wrote the rota.
    """
    value = value.strip()
    match = _TIME.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a time in the form YYYY-MM-DD HH:MM")
    year, month, day, hour, minute = (int(g) for g in match.group(1, 2, 3, 4, 5))
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date and time") from None
    first = naive.replace(tzinfo=TZ, fold=0)
    second = naive.replace(tzinfo=TZ, fold=1)
    if first.astimezone(UTC).astimezone(TZ).replace(tzinfo=None) != naive:
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} does not exist in Swedish time (the clocks go forward "
            "an hour that night); use a time outside the skipped hour"
        )
    offsets = [first.utcoffset(), second.utcoffset()]
    if match.group(6):
        sign = 1 if match.group(6) == "+" else -1
        given = sign * timedelta(hours=int(match.group(7)), minutes=int(match.group(8)))
        if given == offsets[0]:
            return first.astimezone(UTC)
        if given == offsets[1]:
            return second.astimezone(UTC)
        raise ValueError(
            f"{value!r}: Swedish time is not {_format_offset(given)} from UTC at that moment"
        )
    if offsets[0] != offsets[1]:
        raise ValueError(
            f"{naive:%Y-%m-%d %H:%M} happens twice in Swedish time (the clocks go back an hour "
            f"that night); write {naive:%Y-%m-%d %H:%M}{_format_offset(offsets[0])} for the "
            f"first or {naive:%Y-%m-%d %H:%M}{_format_offset(offsets[1])} for the second"
        )
    return first.astimezone(UTC)


def format_local(value: datetime) -> str:
    """An instant as "YYYY-MM-DD HH:MM" Swedish time, with the offset only when ambiguous."""
    local = as_utc(value).astimezone(TZ)
    text = f"{local:%Y-%m-%d %H:%M}"
    other = local.replace(fold=1 - local.fold)
    if other.utcoffset() != local.utcoffset():
        text += _format_offset(local.utcoffset() or timedelta())
    return text


def _detect_delimiter(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return ";" if ";" in line and "," not in line else ","
    return ","


def import_rota(session: Session, csv_text: str) -> int:
    """Check every line, then insert the shifts; returns how many were inserted.

    Nothing is inserted when any line is bad: RotaError lists every problem with its line
    number. A shift identical to one already stored (or repeated in the file) is skipped, so
    importing the same file twice is harmless.
    """
    text = csv_text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), delimiter=_detect_delimiter(text))
    header_seen = False
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if not row or all(not cell.strip() for cell in row):
            continue
        if row[0].lstrip().startswith("#"):
            continue
        if not header_seen:
            header = [cell.strip().lower() for cell in row]
            if header != list(COLUMNS):
                raise RotaError([(reader.line_num,
                                  f"the first line must be the header {','.join(COLUMNS)}")])
            header_seen = True
            continue
        rows.append((reader.line_num, row))
    if not rows:
        return 0

    region_by_key: dict[str, str] = {}
    for code, name in session.execute(select(Region.code, Region.name)):
        region_by_key[area_key(code)] = code
        region_by_key[area_key(name)] = code
    usernames = {row[1].strip() for _, row in rows if len(row) > 1}
    staff_by_name = {
        s.username: s
        for s in session.scalars(select(StaffUser).where(StaffUser.username.in_(usernames)))
    }

    errors: list[tuple[int, str]] = []
    shifts: list[tuple[str, int, str, datetime, datetime, bool]] = []
    for line, row in rows:
        if len(row) != len(COLUMNS):
            errors.append((line, f"expected {len(COLUMNS)} fields ({','.join(COLUMNS)}), "
                                 f"found {len(row)}"))
            continue
        region_raw, username, position, starts_raw, ends_raw, override_raw = (
            cell.strip() for cell in row
        )
        problems: list[str] = []
        code = region_by_key.get(area_key(region_raw))
        if code is None:
            known = ", ".join(sorted(set(region_by_key.values()))) or "none: run sync-regions"
            problems.append(f"unknown region {region_raw!r} (known: {known})")
        staff = staff_by_name.get(username)
        if staff is None:
            problems.append(f"unknown user {username!r}")
        elif not staff.is_active:
            problems.append(f"user {username!r} is inactive")
        elif not staff.pager_encrypted:
            problems.append(f"user {username!r} has no pager number, so cannot be paged")
        position = position.lower()
        if position not in POSITIONS:
            problems.append(f"position must be primary or backup, not {position!r}")
        override = override_raw.lower()
        if override not in _YES | _NO:
            problems.append(f"override must be yes or no, not {override_raw!r}")
        starts = ends = None
        for label, raw in (("starts", starts_raw), ("ends", ends_raw)):
            try:
                parsed = parse_local(raw)
            except ValueError as exc:
                problems.append(f"{label}: {exc}")
                continue
            if label == "starts":
                starts = parsed
            else:
                ends = parsed
        if starts is not None and ends is not None and ends <= starts:
            problems.append(f"ends ({ends_raw}) is not after starts ({starts_raw})")
        if problems:
            errors.extend((line, problem) for problem in problems)
            continue
        assert code and staff and starts and ends
        shifts.append((code, staff.id, position, starts, ends, override in _YES))
    if errors:
        raise RotaError(errors)

    inserted = 0
    seen: set[tuple[str, int, str, datetime, datetime, bool]] = set()
    for shift in shifts:
        if shift in seen:
            continue
        seen.add(shift)
        code, staff_id, position, starts, ends, is_override = shift
        already = session.scalar(
            select(OnCallShift.id).where(
                OnCallShift.region_code == code,
                OnCallShift.staff_id == staff_id,
                OnCallShift.position == position,
                OnCallShift.starts_at == starts,
                OnCallShift.ends_at == ends,
                OnCallShift.is_override == is_override,
            ).limit(1)
        )
        if already is not None:
            continue
        session.add(OnCallShift(region_code=code, staff_id=staff_id, position=position,
                                starts_at=starts, ends_at=ends, is_override=is_override))
        inserted += 1
    session.flush()
    return inserted


def export_rota(session: Session, since: datetime | None = None) -> str:
    """The rota as CSV (the import format). With `since`, only shifts that end after it.

    Shifts of inactive staff are written as # comment lines: the import skips them (it would
    refuse an inactive user), a person reading the file still sees them.
    """
    query = select(OnCallShift, StaffUser).join(StaffUser, StaffUser.id == OnCallShift.staff_id)
    if since is not None:
        query = query.where(OnCallShift.ends_at > _aware(since, "since"))
    query = query.order_by(
        OnCallShift.region_code,
        case((OnCallShift.position == "primary", 0), else_=1),
        OnCallShift.starts_at,
        OnCallShift.id,
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for shift, staff in session.execute(query):
        row = [shift.region_code, staff.username, shift.position,
               format_local(shift.starts_at), format_local(shift.ends_at),
               "yes" if shift.is_override else "no"]
        if staff.is_active:
            writer.writerow(row)
        else:
            out.write("# inactive user: " + ",".join(row) + "\n")
    return out.getvalue()


def _covering(at: datetime):  # noqa: ANN202 - a tuple of SQL conditions
    return (
        OnCallShift.starts_at <= at,
        OnCallShift.ends_at > at,
        StaffUser.is_active.is_(True),
    )


_PRECEDENCE = (OnCallShift.is_override.desc(), OnCallShift.starts_at.desc(),
               OnCallShift.id.desc())


def on_call(session: Session, region_code: str, position: str,
            at: datetime) -> StaffUser | None:
    """The active staff user on call for a region and position at `at` (timezone-aware).

    Among shifts covering `at`, an override wins over ordinary shifts; between equals, the
    shift that started last wins. Shifts of inactive staff are ignored.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be primary or backup, not {position!r}")
    at = _aware(at, "at")
    query = (
        select(StaffUser)
        .join(OnCallShift, OnCallShift.staff_id == StaffUser.id)
        .where(OnCallShift.region_code == region_code, OnCallShift.position == position,
               *_covering(at))
        .order_by(*_PRECEDENCE)
        .limit(1)
    )
    return session.scalars(query).first()


def on_call_now(session: Session,
                at: datetime | None = None) -> dict[str, dict[str, StaffUser | None]]:
    """{region code: {"primary": staff or None, "backup": staff or None}} for every region."""
    at = _aware(at, "at") if at is not None else utcnow()
    result: dict[str, dict[str, StaffUser | None]] = {
        code: dict.fromkeys(POSITIONS) for code in session.scalars(select(Region.code))
    }
    query = (
        select(OnCallShift.region_code, OnCallShift.position, StaffUser)
        .join(StaffUser, StaffUser.id == OnCallShift.staff_id)
        .where(*_covering(at))
        .order_by(OnCallShift.region_code, OnCallShift.position, *_PRECEDENCE)
    )
    for code, position, staff in session.execute(query):
        slot = result.setdefault(code, dict.fromkeys(POSITIONS))
        if position in POSITIONS and slot[position] is None:
            slot[position] = staff
    return result
