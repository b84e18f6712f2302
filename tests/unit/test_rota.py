"""Regions, the on-call rota (Swedish local time, DST), staff passwords and the escalation CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from gateway.config import LOCAL_ENCRYPTION_KEY, LOCAL_SENDER_HASH_KEY, REPO_ROOT
from gateway.db import Database, upgrade_database
from gateway.escalation.models import OnCallShift, Region, RegionArea, StaffUser
from gateway.escalation.passwords import check_password_strength, hash_password, verify_password
from gateway.escalation.regions import find_region, load_regions, sync_regions
from gateway.escalation.rota import (
    RotaError,
    as_utc,
    export_rota,
    format_local,
    import_rota,
    on_call,
    on_call_now,
    parse_local,
)
from gateway.messaging.vault import NumberVault

HEADER = "region,username,position,starts,ends,override\n"
VAULT = NumberVault(LOCAL_SENDER_HASH_KEY, LOCAL_ENCRYPTION_KEY)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def db(database_url):
    upgrade_database(database_url)
    database = Database(database_url)
    with database.session() as s:
        sync_regions(s)
    yield database
    database.dispose()


def add_staff(db: Database, username: str, *, region: str = "syd", active: bool = True,
              pager: str | None = "+46701110000") -> int:
    with db.session() as s:
        staff = StaffUser(username=username, name=username.title(), role="coordinator",
                          region_code=region, failed_logins=0, is_active=active,
                          pager_encrypted=VAULT.encrypt(pager) if pager else None,
                          pager_hash=VAULT.sender_hash(pager) if pager else None)
        s.add(staff)
        s.flush()
        return staff.id


def who(db: Database, region: str, position: str, at: datetime) -> str | None:
    with db.session() as s:
        staff = on_call(s, region, position, at)
        return staff.username if staff else None


# --- regions -----------------------------------------------------------------------------

def test_regions_yml_has_the_seven_regions_and_no_place_in_two():
    specs = load_regions()  # raises if a key belongs to two regions
    assert [s.code for s in specs] == ["bergslagen", "stockholm", "mitt", "nord", "syd",
                                       "vast", "ost"]
    assert {s.code: s.name for s in specs}["vast"] == "Väst"
    assert all(len(s.areas) >= 10 for s in specs)


@pytest.mark.parametrize(("text", "code"), [
    ("Göteborg", "vast"),
    ("goteborg", "vast"),
    ("GOTHENBURG", "vast"),
    ("jag bor i Malmo", "syd"),
    ("Jag bor i Malmö.", "syd"),
    ("Umeå", "nord"),
    ("umea", "nord"),
    ("I live near Norrkoping", "ost"),
    ("Jönköping", "ost"),          # not Köping (Mitt) inside the word
    ("Köping", "mitt"),
    ("Västra Götalands län", "vast"),
    ("i Stockholms län", "stockholm"),
    ("Örebro", "bergslagen"),
    ("Gävle", "mitt"),
    ("Visby", "stockholm"),
    ("Väst", "vast"),
    ("ost", "ost"),
    ("region nord", "nord"),
    ("Region Skåne", "syd"),
    ("mieszkam w Göteborgu", "vast"),     # inflected (Polish)
    ("Göteborgban lakom", "vast"),        # Hungarian
    ("я живу в Стокгольме", "stockholm"),
    ("Sztokholm", "stockholm"),
    ("i Malmöområdet", "syd"),
    ("Lunds universitet", "syd"),
])
def test_find_region(db, text, code):
    with db.session() as s:
        assert find_region(s, text) == code


@pytest.mark.parametrize("text", ["", "   ", "Oslo", "jag bor i mitt hus",
                                  "jag vill ha ost", "Jönköpingsvägen 3x",
                                  "moral", "Lundby"])
def test_find_region_unknown_is_none(db, text):
    with db.session() as s:
        assert find_region(s, text) is None


def test_sync_regions_is_idempotent_and_repairs_drift(db):
    with db.session() as s:
        assert sync_regions(s) == 0
        regions = s.scalar(select(func.count()).select_from(Region))
        areas = s.scalar(select(func.count()).select_from(RegionArea))
    assert regions == 7
    assert areas == sum(len(spec.areas) for spec in load_regions())
    with db.session() as s:
        s.get(RegionArea, "goteborg").region_code = "syd"
        s.add(RegionArea(key="atlantis", name="Atlantis", region_code="nord"))
    with db.session() as s:
        assert sync_regions(s) == 2
        assert s.get(RegionArea, "goteborg").region_code == "vast"
        assert s.get(RegionArea, "atlantis") is None
        assert sync_regions(s) == 0


# --- local time --------------------------------------------------------------------------

def test_local_times_around_the_dst_changes():
    assert parse_local("2026-03-29 01:59") == utc(2026, 3, 29, 0, 59)
    assert parse_local("2026-03-29 03:00") == utc(2026, 3, 29, 1, 0)
    with pytest.raises(ValueError, match="does not exist"):
        parse_local("2026-03-29 02:30")
    with pytest.raises(ValueError, match="happens twice"):
        parse_local("2026-10-25 02:30")
    assert parse_local("2026-10-25 02:30+02:00") == utc(2026, 10, 25, 0, 30)
    assert parse_local("2026-10-25 02:30+01:00") == utc(2026, 10, 25, 1, 30)
    assert parse_local("2026-10-25 03:00") == utc(2026, 10, 25, 2, 0)
    with pytest.raises(ValueError, match="not"):
        parse_local("2026-07-01 12:00+01:00")
    assert format_local(utc(2026, 10, 25, 0, 30)) == "2026-10-25 02:30+02:00"
    assert format_local(utc(2026, 10, 25, 1, 30)) == "2026-10-25 02:30+01:00"
    assert format_local(utc(2026, 7, 1, 10, 0)) == "2026-07-01 12:00"


# --- rota --------------------------------------------------------------------------------

def test_on_call_across_the_spring_dst_change(db):
    add_staff(db, "anna")
    add_staff(db, "bertil")
    rota = HEADER + (
        "syd,anna,primary,2026-03-28 20:00,2026-03-29 08:00,no\n"
        "syd,bertil,primary,2026-03-29 08:00,2026-03-29 20:00,no\n"
    )
    with db.session() as s:
        assert import_rota(s, rota) == 2
    with db.session() as s:
        first = s.scalars(select(OnCallShift).order_by(OnCallShift.starts_at)).first()
        # 20:00 CET is 19:00 UTC; 08:00 CEST (after the clocks went forward) is 06:00 UTC.
        assert (as_utc(first.starts_at), as_utc(first.ends_at)) == (
            utc(2026, 3, 28, 19), utc(2026, 3, 29, 6))
    assert who(db, "syd", "primary", utc(2026, 3, 28, 18, 59)) is None
    assert who(db, "syd", "primary", utc(2026, 3, 28, 19)) == "anna"
    assert who(db, "syd", "primary", utc(2026, 3, 29, 1, 30)) == "anna"  # 03:30 CEST
    assert who(db, "syd", "primary", utc(2026, 3, 29, 5, 59)) == "anna"  # 07:59 CEST
    assert who(db, "syd", "primary", utc(2026, 3, 29, 6)) == "bertil"    # 08:00 CEST
    assert who(db, "syd", "primary", utc(2026, 3, 29, 18)) is None       # 20:00 CEST
    assert who(db, "syd", "backup", utc(2026, 3, 29, 1)) is None
    assert who(db, "vast", "primary", utc(2026, 3, 29, 1)) is None


def test_on_call_across_the_autumn_dst_change(db):
    add_staff(db, "cecilia", region="vast")
    add_staff(db, "david", region="vast")
    add_staff(db, "erik", region="vast")
    rota = HEADER + (
        "vast,cecilia,primary,2026-10-24 20:00,2026-10-25 03:00,no\n"
        "vast,david,primary,2026-10-25 03:00,2026-10-25 12:00,no\n"
        "vast,erik,backup,2026-10-25 02:30+01:00,2026-10-25 12:00,no\n"
    )
    with db.session() as s:
        assert import_rota(s, rota) == 3
    # 02:30 happens twice that night: at 00:30 UTC (CEST) and 01:30 UTC (CET).
    assert who(db, "vast", "primary", utc(2026, 10, 25, 0, 30)) == "cecilia"
    assert who(db, "vast", "primary", utc(2026, 10, 25, 1, 30)) == "cecilia"
    assert who(db, "vast", "primary", utc(2026, 10, 25, 1, 59)) == "cecilia"
    assert who(db, "vast", "primary", utc(2026, 10, 25, 2)) == "david"  # 03:00 CET
    assert who(db, "vast", "backup", utc(2026, 10, 25, 0, 30)) is None
    assert who(db, "vast", "backup", utc(2026, 10, 25, 1, 30)) == "erik"
    assert who(db, "vast", "primary", utc(2026, 10, 25, 11)) is None    # 12:00 CET


def test_override_wins_then_latest_start_and_inactive_staff_is_skipped(db):
    add_staff(db, "anna")
    add_staff(db, "bertil")
    add_staff(db, "cecilia")
    add_staff(db, "david")
    rota = HEADER + (
        "syd,anna,primary,2026-06-01 08:00,2026-06-08 08:00,no\n"
        "syd,bertil,primary,2026-06-03 08:00,2026-06-04 08:00,no\n"        # later start
        "syd,cecilia,primary,2026-06-03 12:00,2026-06-03 14:00,yes\n"      # override
        "Syd,david,Backup,2026-06-01 08:00,2026-06-08 08:00,No\n"
    )
    with db.session() as s:
        assert import_rota(s, rota) == 4
    at = utc(2026, 6, 3, 9)  # 11:00 CEST
    assert who(db, "syd", "primary", utc(2026, 6, 2, 9)) == "anna"
    assert who(db, "syd", "primary", at) == "bertil"
    assert who(db, "syd", "primary", utc(2026, 6, 3, 10, 30)) == "cecilia"
    assert who(db, "syd", "backup", at) == "david"
    with db.session() as s:
        table = on_call_now(s, utc(2026, 6, 3, 10, 30))
    assert set(table) == {"bergslagen", "stockholm", "mitt", "nord", "syd", "vast", "ost"}
    assert {p: u.username for p, u in table["syd"].items()} == {
        "primary": "cecilia", "backup": "david"}
    assert table["nord"] == {"primary": None, "backup": None}

    with db.session() as s:
        s.scalar(select(StaffUser).where(StaffUser.username == "cecilia")).is_active = False
    assert who(db, "syd", "primary", utc(2026, 6, 3, 10, 30)) == "bertil"
    with db.session() as s:
        s.scalar(select(StaffUser).where(StaffUser.username == "bertil")).is_active = False
    assert who(db, "syd", "primary", utc(2026, 6, 3, 10, 30)) == "anna"
    with db.session() as s:
        assert on_call_now(s, utc(2026, 6, 3, 10, 30))["syd"]["primary"].username == "anna"
        with pytest.raises(ValueError, match="timezone-aware"):
            on_call(s, "syd", "primary", datetime(2026, 6, 3, 10))


def test_every_bad_line_is_reported_and_nothing_is_imported(db):
    add_staff(db, "anna")
    add_staff(db, "gone", active=False)
    add_staff(db, "nopager", pager=None)
    rota = HEADER + (
        "syd,anna,primary,2026-06-01 08:00,2026-06-02 08:00,no\n"           # 2: good
        "atlantis,anna,primary,2026-06-01 08:00,2026-06-02 08:00,no\n"      # 3
        "syd,nobody,primary,2026-06-01 08:00,2026-06-02 08:00,no\n"         # 4
        "syd,gone,primary,2026-06-01 08:00,2026-06-02 08:00,no\n"           # 5
        "syd,anna,primary,2026-06-02 08:00,2026-06-02 08:00,no\n"           # 6
        "syd,anna,captain,2026-06-01 08:00,2026-06-02 08:00,no\n"           # 7
        "syd,anna,primary,2026-03-29 02:30,2026-03-29 08:00,no\n"           # 8
        "\n"                                                                # 9: blank
        "syd,anna,primary,2026-06-01 08:00,2026-06-02 08:00,maybe\n"        # 10
        "syd,anna,primary,1 June,2026-06-02 08:00,no\n"                     # 11
        "syd,anna,primary\n"                                                # 12
        "syd,nopager,backup,2026-06-01 08:00,2026-06-02 08:00,no\n"         # 13
        "syd,anna,primary,2026-10-25 02:30,2026-10-25 08:00,no\n"           # 14
    )
    with db.session() as s, pytest.raises(RotaError) as caught:
        import_rota(s, rota)
    errors = caught.value.errors
    by_line = {line: problem for line, problem in errors}
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14]
    assert "unknown region 'atlantis'" in by_line[3]
    assert "unknown user 'nobody'" in by_line[4]
    assert "inactive" in by_line[5]
    assert "not after" in by_line[6]
    assert "primary or backup" in by_line[7]
    assert "does not exist" in by_line[8]
    assert "yes or no" in by_line[10]
    assert "YYYY-MM-DD HH:MM" in by_line[11]
    assert "expected 6 fields" in by_line[12]
    assert "no pager" in by_line[13]
    assert "happens twice" in by_line[14]
    assert "line 8: starts:" in str(caught.value)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OnCallShift)) == 0
        with pytest.raises(RotaError, match="header"):
            import_rota(s, "who,when\nsyd,anna\n")


def test_export_import_round_trip(db):
    add_staff(db, "anna")
    add_staff(db, "bertil", region="vast")
    add_staff(db, "gone", active=False)
    rota = HEADER + (
        "syd,anna,primary,2026-03-28 20:00,2026-03-29 08:00,no\n"
        "vast,bertil,backup,2026-10-24 20:00,2026-10-25 02:30+01:00,yes\n"
        "Väst,bertil,primary,2026-10-25 02:30+02:00,2026-10-25 03:00,no\n"
        "syd,anna,backup,2027-01-01 00:00,2027-01-02 00:00,no\n"
    )
    with db.session() as s:
        assert import_rota(s, rota) == 4
        gone_id = s.scalar(select(StaffUser.id).where(StaffUser.username == "gone"))
        s.add(OnCallShift(region_code="syd", staff_id=gone_id, position="backup",
                          starts_at=utc(2026, 5, 1), ends_at=utc(2026, 5, 2),
                          is_override=False))
    with db.session() as s:
        exported = export_rota(s)
        assert import_rota(s, exported) == 0  # the same shifts again: nothing added
    assert exported.splitlines() == [
        "region,username,position,starts,ends,override",
        "syd,anna,primary,2026-03-28 20:00,2026-03-29 08:00,no",
        "# inactive user: syd,gone,backup,2026-05-01 02:00,2026-05-02 02:00,no",
        "syd,anna,backup,2027-01-01 00:00,2027-01-02 00:00,no",
        "vast,bertil,primary,2026-10-25 02:30+02:00,2026-10-25 03:00,no",
        "vast,bertil,backup,2026-10-24 20:00,2026-10-25 02:30+01:00,yes",
    ]

    def snapshot() -> list[tuple]:
        with db.session() as s:
            rows = s.execute(select(OnCallShift, StaffUser.username)
                             .join(StaffUser, StaffUser.id == OnCallShift.staff_id))
            return sorted((sh.region_code, name, sh.position, as_utc(sh.starts_at),
                           as_utc(sh.ends_at), sh.is_override) for sh, name in rows
                          if name != "gone")

    before = snapshot()
    with db.session() as s:
        s.execute(delete(OnCallShift))
    with db.session() as s:
        assert import_rota(s, exported) == 4
    assert snapshot() == before
    with db.session() as s:
        assert export_rota(s) == exported.replace(
            "# inactive user: syd,gone,backup,2026-05-01 02:00,2026-05-02 02:00,no\n", "")
        since = export_rota(s, since=utc(2026, 12, 1)).splitlines()
    assert since == ["region,username,position,starts,ends,override",
                     "syd,anna,backup,2027-01-01 00:00,2027-01-02 00:00,no"]


def test_semicolon_csv_with_bom_and_comments(db):
    add_staff(db, "anna")
    rota = ("\ufeff# rota for June\nregion;username;position;starts;ends;override\n"
            "syd;anna;primary;2026-06-01 08:00;2026-06-02 08:00;\n")
    with db.session() as s:
        assert import_rota(s, rota) == 1
    assert who(db, "syd", "primary", utc(2026, 6, 1, 12)) == "anna"


# --- passwords ---------------------------------------------------------------------------

def test_password_hash_and_verify():
    stored = hash_password("correct horse battery")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**15), "8", "1")
    assert len(salt) == 24 and len(digest) == 44  # 16 and 32 bytes in base64
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    assert not verify_password("", stored)
    assert hash_password("correct horse battery") != stored  # random salt
    for broken in (None, "", "scrypt$1$2$3", "bcrypt$x", stored.replace("scrypt", "md5"),
                   "scrypt$32768$8$1$!!!$AAAA", "scrypt$99999999$8$1$AAAA$AAAA"):
        assert not verify_password("correct horse battery", broken)


def test_password_strength():
    check_password_strength("twelve chars")
    for weak in ("", "short", "elevenchars", "aaaaaaaaaaaaaaaa"):
        with pytest.raises(ValueError):
            check_password_strength(weak)


# --- CLI ---------------------------------------------------------------------------------

PAGER = "+46 70 123 45 67"


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "gateway.escalation.cli", *args],
                          cwd=REPO_ROOT, env=env, input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_cli_smoke(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_database(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIGHTSLINE_")}
    env.update(RIGHTSLINE_DATABASE_URL=url, RIGHTSLINE_ENVIRONMENT="test",
               RIGHTSLINE_NEW_PASSWORD="a long enough password")
    outputs: list[str] = []

    def ok(*args: str) -> str:
        result = run_cli(env, *args)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def fails(*args: str, env_: dict[str, str] = env) -> str:
        result = run_cli(env_, *args)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode != 0
        assert result.stderr.strip()
        return result.stderr

    assert "7 regions" in ok("sync-regions")
    assert "0 row(s) changed" in ok("sync-regions")
    assert "run sync-regions" not in ok("create-admin", "--username", "admin", "--name", "Ada")
    ok("add-coordinator", "--username", "anna", "--name", "Anna K", "--region", "Väst",
       "--pager", PAGER)
    assert "already exists" in fails("add-coordinator", "--username", "anna", "--name", "A",
                                     "--region", "vast", "--pager", PAGER)
    assert "unknown region" in fails("add-coordinator", "--username", "bo", "--name", "Bo",
                                     "--region", "narnia", "--pager", PAGER)
    assert "international" in fails("add-coordinator", "--username", "bo", "--name", "Bo",
                                     "--region", "syd", "--pager", "0701234567")
    weak = dict(env, RIGHTSLINE_NEW_PASSWORD="short")
    assert "12 characters" in fails("create-admin", "--username", "eve", "--name", "Eve",
                                     env_=weak)

    db = Database(url)
    with db.session() as s:
        anna = s.scalar(select(StaffUser).where(StaffUser.username == "anna"))
        admin = s.scalar(select(StaffUser).where(StaffUser.username == "admin"))
        assert (anna.role, anna.region_code, admin.role) == ("coordinator", "vast", "admin")
        assert VAULT.decrypt(anna.pager_encrypted) == "+46701234567"
        assert anna.pager_hash == VAULT.sender_hash("+46701234567")
        assert "46701234567" not in anna.pager_encrypted
        assert verify_password("a long enough password", admin.password_hash)
        assert verify_password("a long enough password", anna.password_hash)
        assert s.scalar(select(func.count()).select_from(StaffUser)) == 2
    db.dispose()

    rota = tmp_path / "rota.csv"
    rota.write_text(HEADER + "vast,anna,primary,2026-10-24 20:00,2026-10-25 08:00,no\n",
                    encoding="utf-8")
    assert "1 shift(s) added" in ok("import-rota", str(rota))
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "vast,nobody,primary,2026-10-24 20:00,2026-10-25 08:00,no\n",
                   encoding="utf-8")
    assert "line 2: unknown user 'nobody'" in fails("import-rota", str(bad))
    assert "cannot read" in fails("import-rota", str(tmp_path / "missing.csv"))

    out = ok("on-call", "--at", "2026-10-25 02:30+01:00")
    assert "Anna K (anna)" in out and "Väst" in out and "NOBODY" in out
    assert "Anna K" not in ok("on-call", "--at", "2026-10-25 08:00")
    assert "does not exist" in fails("on-call", "--at", "2026-03-29 02:30")
    assert ok("export-rota", "--since", "2026-10-01").splitlines()[1] == (
        "vast,anna,primary,2026-10-24 20:00,2026-10-25 08:00,no")
    assert ok("export-rota", "--since", "2026-11-01").strip() == HEADER.strip()
    assert "YYYY-MM-DD" in fails("export-rota", "--since", "tomorrow")

    everything = "\n".join(outputs)
    for form in ("46701234567", "0701234567", "701234567", "70 123 45 67"):
        assert form not in everything
