from datetime import timedelta

import sqlalchemy as sa

from gateway.conversations import service
from gateway.db import Database, upgrade_database
from gateway.models import Conversation, Message, OutboxMessage, utcnow
from gateway.retention import purge_idle_conversations
from tests.unit.fakes import FakeRasa


def test_idle_conversations_are_deleted_with_everything_they_hold(database_url):
    upgrade_database(database_url)
    db = Database(database_url)
    rasa = FakeRasa()
    with db.session() as s:
        old = service.open_conversation(s, channel="sms")
        old.sender_encrypted = "encrypted-number"
        service.record_message(s, old, direction="inbound", text="gammal", language="sv")
        s.add(OutboxMessage(conversation_id=old.id, to_encrypted="x", body="b"))
        old.last_activity_at = utcnow() - timedelta(days=31)
        fresh = service.open_conversation(s, channel="webchat")
        service.record_message(s, fresh, direction="inbound", text="ny", language="sv")
        old_id, fresh_id = old.id, fresh.id
    assert purge_idle_conversations(db, rasa.client(), older_than=timedelta(days=30)) == 1
    with db.session() as s:
        assert s.scalars(sa.select(Conversation.id)).all() == [fresh_id]
        assert s.scalars(sa.select(Message.text)).all() == ["ny"]
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    assert rasa.erased == [old_id]
    db.dispose()
