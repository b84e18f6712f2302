"""Migrations and the conversation store, on SQLite and (for real) PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from gateway.conversations import service
from gateway.db import Database, alembic_config, upgrade_database
from gateway.models import Message


@pytest.fixture
def db(database_url):
    upgrade_database(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


def test_migrations_create_the_tables_and_downgrade_cleanly(database_url):
    upgrade_database(database_url)
    engine = sa.create_engine(Database(database_url).url)
    assert {"conversation", "message", "alembic_version"} <= set(sa.inspect(engine).get_table_names())
    command.downgrade(alembic_config(database_url), "base")
    assert "message" not in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_messages_are_stored_in_order_with_direction_language_channel(db):
    with db.session() as s:
        conv = service.open_conversation(s, channel="webchat", language="sv")
        service.record_message(s, conv, direction="inbound", text="Vad är betänketid?", language="sv")
        service.record_message(s, conv, direction="outbound", text="Betänketid är ...",
                               language="sv", response_name="utter_reflection_period")
        conv_id = conv.id
    with db.session() as s:
        messages = service.list_messages(s, conv_id)
    assert [(m.direction, m.language, m.channel, m.response_name) for m in messages] == [
        ("inbound", "sv", "webchat", None),
        ("outbound", "sv", "webchat", "utter_reflection_period"),
    ]
    assert messages[0].text == "Vad är betänketid?"
    assert messages[0].created_at is not None


def test_conversation_ids_are_unguessable_tokens(db):
    with db.session() as s:
        ids = {service.open_conversation(s, channel="webchat").id for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) >= 32 for i in ids)


def test_deleting_a_conversation_deletes_its_messages(db):
    with db.session() as s:
        conv = service.open_conversation(s, channel="webchat")
        service.record_message(s, conv, direction="inbound", text="hej", language="sv")
        conv_id = conv.id
    with db.session() as s:
        assert service.delete_conversation(s, conv_id)
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
        with pytest.raises(service.UnknownConversation):
            service.get_conversation(s, conv_id)


def test_a_channel_message_id_is_stored_once(db):
    with db.session() as s:
        conv = service.open_conversation(s, channel="sms")
        service.record_message(s, conv, direction="inbound", text="a", language="en",
                               channel_message_id="SM123")
    with pytest.raises(IntegrityError):
        with db.session() as s:
            conv = service.get_conversation(s, conv.id)
            service.record_message(s, conv, direction="inbound", text="a", language="en",
                                   channel_message_id="SM123")
