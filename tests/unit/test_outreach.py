"""Outreach sources and daily counts, on SQLite and PostgreSQL: the migration, the race-safe
count, what a conversation opened from a QR card keeps (its region, never its source)."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.conversations.turn import TurnContext, take_turn
from gateway.db import Database, alembic_config, upgrade_database
from gateway.escalation.regions import sync_regions
from gateway.models import Conversation, Message
from gateway.outreach import cli
from gateway.outreach.models import UNKNOWN_SOURCE, OutreachDailyCount, OutreachSource
from gateway.outreach.service import (
    SourceError,
    add_source,
    count_conversation,
    counts_csv,
    daily_counts,
    local_day,
    set_active,
)
from tests.unit.fakes import FakeRasa
from translations.catalog import Catalog

DAY = date(2026, 3, 2)


@pytest.fixture
def db(database_url):
    upgrade_database(database_url)
    database = Database(database_url)
    with database.session() as s:
        sync_regions(s)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def counts(db: Database) -> dict[tuple[date, str, str], int]:
    with db.session() as s:
        return {(r.day, r.source_code, r.language): r.conversations
                for r in s.scalars(sa.select(OutreachDailyCount))}


# --- the migration ------------------------------------------------------------------------

def test_migration_adds_the_tables_and_replaces_source_by_region_hint(database_url):
    upgrade_database(database_url)
    engine = sa.create_engine(Database(database_url).url)
    inspector = sa.inspect(engine)
    assert {"outreach_sources", "outreach_daily_counts"} <= set(inspector.get_table_names())
    columns = {c["name"] for c in inspector.get_columns("conversation")}
    assert "region_hint" in columns and "source" not in columns
    assert inspector.get_pk_constraint("outreach_daily_counts")["constrained_columns"] == [
        "day", "source_code", "language"]
    assert not hasattr(Conversation, "source")
    # Down to 0004 and up again.
    command.downgrade(alembic_config(database_url), "0004")
    inspector = sa.inspect(engine)
    assert "outreach_sources" not in inspector.get_table_names()
    assert "source" in {c["name"] for c in inspector.get_columns("conversation")}
    command.upgrade(alembic_config(database_url), "head")
    engine.dispose()


def test_the_upgrade_keeps_every_conversation_and_message(database_url):
    """SQLite must not copy-and-recreate the conversation table: with foreign keys on, the
    drop would cascade to every message."""
    command.upgrade(alembic_config(database_url), "0004")
    engine = sa.create_engine(Database(database_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO conversation (id, channel, source, created_at, last_activity_at, "
            "is_opted_out) VALUES ('c-one', 'webchat', 'team-a', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, false)"))
        conn.execute(sa.text(
            "INSERT INTO message (conversation_id, direction, text, channel, "
            "is_machine_translated, created_at) VALUES ('c-one', 'inbound', 'hej', 'webchat', "
            "false, CURRENT_TIMESTAMP)"))
    engine.dispose()
    upgrade_database(database_url)
    db = Database(database_url)
    with db.session() as s:
        assert s.get(Conversation, "c-one").region_hint is None
        assert s.scalar(sa.select(sa.func.count()).select_from(Message)) == 1
    db.dispose()


# --- sources and counts -------------------------------------------------------------------

def test_sources_are_checked(db):
    with db.session() as s:
        source = add_source(s, code=" Team-Syd ", label="  Outreach  team south ",
                            region_code="syd")
        assert (source.code, source.label, source.region_code, source.active) == (
            "team-syd", "Outreach team south", "syd", True)
    for kwargs, message in (({"code": "-x"}, "1-32 characters"),
                            ({"code": "a" * 33}, "1-32 characters"),
                            ({"code": "a b"}, "1-32 characters"),
                            ({"code": "unknown"}, "reserved"),
                            ({"code": "team-syd"}, "already exists"),
                            ({"code": "ok", "label": " "}, "label"),
                            ({"code": "ok", "region_code": "atlantis"}, "unknown region")):
        with pytest.raises(SourceError, match=message), db.session() as s:
            add_source(s, **{"label": "L", **kwargs})
    with db.session() as s:
        assert not set_active(s, "team-syd", False).active
        with pytest.raises(SourceError):
            set_active(s, "nope", False)


def test_the_count_adds_one_per_key(db):
    with db.session() as s:
        for _ in range(3):
            count_conversation(s, source_code="team-a", language="ro", day=DAY)
        count_conversation(s, source_code="team-a", language="pl", day=DAY)
        count_conversation(s, source_code="team-a", language="ro", day=DAY + timedelta(days=1))
    assert counts(db) == {(DAY, "team-a", "ro"): 3, (DAY, "team-a", "pl"): 1,
                          (DAY + timedelta(days=1), "team-a", "ro"): 1}
    with db.session() as s:
        rows = daily_counts(s, since=DAY, until=DAY)
        assert counts_csv(rows) == ("day,source,language,conversations\n"
                                    "2026-03-02,team-a,pl,1\n2026-03-02,team-a,ro,3\n")


def test_two_replicas_counting_the_same_keys_at_once_lose_nothing(db):
    """Each round both threads insert the same new key at the same moment (the first insert
    races too), then both hammer one key."""
    rounds, hammer = 15, 40
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            for i in range(rounds):
                barrier.wait(timeout=30)
                with db.session() as s:
                    count_conversation(s, source_code="team-a", language="ro",
                                       day=DAY + timedelta(days=i))
            barrier.wait(timeout=30)
            for _ in range(hammer):
                with db.session() as s:
                    count_conversation(s, source_code="team-b", language="th", day=DAY)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    found = counts(db)
    assert all(found[(DAY + timedelta(days=i), "team-a", "ro")] == 2 for i in range(rounds))
    assert found[(DAY, "team-b", "th")] == 2 * hammer


def test_the_day_is_swedish():
    from datetime import UTC, datetime

    # 23:30 UTC on 1 March is already 2 March in Stockholm (UTC+1 in winter).
    assert local_day(datetime(2026, 3, 1, 23, 30, tzinfo=UTC)) == date(2026, 3, 2)
    assert local_day(datetime(2026, 7, 1, 21, 59, tzinfo=UTC)) == date(2026, 7, 1)
    assert local_day(datetime(2026, 7, 1, 22, 0, tzinfo=UTC)) == date(2026, 7, 2)


# --- a turn opened from a QR card ---------------------------------------------------------

def turn_context(db: Database, catalog: Catalog, rasa: FakeRasa) -> TurnContext:
    return TurnContext(db=db, rasa=rasa.client(), catalog=catalog, default_language="en")


def test_a_new_conversation_from_a_source_is_counted_and_keeps_only_the_region(db, catalog):
    rasa = FakeRasa()
    ctx = turn_context(db, catalog, rasa)
    with db.session() as s:
        add_source(s, code="team-syd", label="Team south", region_code="syd")
    result = take_turn(ctx, channel="webchat", conversation_id=None, text="Buna",
                       language="ro", source="team-syd")
    assert counts(db) == {(local_day(), "team-syd", "ro"): 1}
    assert rasa.received[0]["metadata"] == {"language": "ro", "channel": "webchat",
                                            "region": "syd"}
    # Later turns of the same conversation are not counted again, whatever they carry.
    take_turn(ctx, channel="webchat", conversation_id=result.conversation_id, text="Ce?",
              source="team-syd")
    assert counts(db) == {(local_day(), "team-syd", "ro"): 1}
    assert rasa.received[1]["metadata"]["region"] == "syd"
    with db.session() as s:
        assert s.get(Conversation, result.conversation_id).region_hint == "syd"
        row = s.execute(sa.text("SELECT * FROM conversation")).mappings().one()
    assert "source" not in row and "team-syd" not in [str(v) for v in row.values()]


def test_unknown_and_inactive_sources_count_as_unknown(db, catalog):
    rasa = FakeRasa()
    ctx = turn_context(db, catalog, rasa)
    with db.session() as s:
        add_source(s, code="old-campaign", label="2025 campaign", region_code="vast")
        set_active(s, "old-campaign", False)
    ids = [take_turn(ctx, channel="webchat", conversation_id=None, text="hello", language="en",
                     source=source).conversation_id
           for source in ("made-up", "old-campaign", "x" * 200, "unknown")]
    assert counts(db) == {(local_day(), UNKNOWN_SOURCE, "en"): 4}
    with db.session() as s:
        assert {s.get(Conversation, i).region_hint for i in ids} == {None}
    # Without a source nothing is counted.
    take_turn(ctx, channel="webchat", conversation_id=None, text="hello", language="en")
    assert sum(counts(db).values()) == 4


def test_the_web_chat_api_takes_the_source(sqlite_url):
    upgrade_database(sqlite_url)
    db = Database(sqlite_url)
    with db.session() as s:
        sync_regions(s)
        add_source(s, code="team-syd", label="Team south", region_code="syd")
    rasa = FakeRasa()
    app = create_app(Settings(database_url=sqlite_url, environment="test",
                              detect_language=False), rasa=rasa.client(),
                     start_outbox_worker=False)
    with TestClient(app) as client:
        url = "/api/webchat/messages"
        assert client.post(url, json={"text": "hej", "language": "sv",
                                      "source": "Team-Syd"}).status_code == 200
        assert rasa.received[-1]["metadata"]["region"] == "syd"
        for bad in ("team syd", "-team", "a" * 33, "tëam"):
            assert client.post(url, json={"text": "hej", "source": bad}).status_code == 422
    assert counts(db) == {(local_day(), "team-syd", "sv"): 1}
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 1
    db.dispose()


# --- the CLI ------------------------------------------------------------------------------

def test_cli_sources_and_counts(sqlite_url, monkeypatch, capsys, tmp_path):
    upgrade_database(sqlite_url)
    monkeypatch.setenv("RIGHTSLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("RIGHTSLINE_TWILIO_FROM_NUMBER", "+46700000000")
    cli.get_settings.cache_clear()
    db = Database(sqlite_url)
    with db.session() as s:
        sync_regions(s)
    try:
        assert cli.main(["sources", "add", "team-syd", "--label", "Team south",
                         "--region", "syd"]) == 0
        assert cli.main(["sources", "add", "team-syd", "--label", "again"]) == 1
        assert "already exists" in capsys.readouterr().err
        assert cli.main(["sources", "list"]) == 0
        out = capsys.readouterr().out
        assert "team-syd" in out and "syd" in out and "Team south" in out
        with db.session() as s:
            count_conversation(s, source_code="team-syd", language="ro", day=DAY)
        assert cli.main(["counts", "--since", "2026-03-01", "--csv"]) == 0
        assert capsys.readouterr().out == ("day,source,language,conversations\n"
                                           "2026-03-02,team-syd,ro,1\n")
        assert cli.main(["counts", "--since", "2026-03-03"]) == 0
        assert "no conversations" in capsys.readouterr().out
        assert cli.main(["counts", "--since", "March"]) == 1
        assert cli.main(["card", "--source", "team-syd", "--lang", "ro", "--out",
                         str(tmp_path / "cards"), "--base-url", "https://chat.example.org"]) == 0
        assert "https://chat.example.org/?lang=ro&src=team-syd" in capsys.readouterr().out
        assert sorted(p.name for p in (tmp_path / "cards").iterdir()) == [
            "team-syd-ro.pdf", "team-syd-ro.png", "team-syd-ro.svg"]
        assert cli.main(["card", "--source", "nope", "--lang", "ro", "--out",
                         str(tmp_path)]) == 1
        assert cli.main(["sources", "deactivate", "team-syd"]) == 0
        with db.session() as s:
            assert not s.get(OutreachSource, "team-syd").active
    finally:
        cli.get_settings.cache_clear()
        db.dispose()
