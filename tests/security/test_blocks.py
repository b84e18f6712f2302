"""Issue 11, item 4: time-limited blocks of an SMS sender (by number hash) or a web chat
conversation, set from a request in the console, audited without personal data, listed and
lifted by administrators; a blocked sender still gets 112 and can always erase."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.abuse import blocks
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent
from gateway.models import AbuseBlock, utcnow


def test_a_block_is_time_limited_and_refuses_for_ever(sqlite_url):
    upgrade_database(sqlite_url)
    now = utcnow()
    with Database(sqlite_url).session() as s:
        with pytest.raises(blocks.BlockError):
            blocks.create_block(s, blocks.BlockRequest("sms_sender", "h" * 64, 24 * 365, "flooding"),
                                actor_id=1, now=now, max_days=92)
        with pytest.raises(blocks.BlockError):
            blocks.create_block(s, blocks.BlockRequest("sms_sender", "h" * 64, 24, "free text"),
                                actor_id=1, now=now, max_days=92)
        block = blocks.create_block(s, blocks.BlockRequest("sms_sender", "h" * 64, 6, "flooding"),
                                    actor_id=1, now=now, max_days=92)
        assert blocks.active_block(s, "sms_sender", "h" * 64, now + timedelta(hours=5))
        assert blocks.active_block(s, "sms_sender", "h" * 64, now + timedelta(hours=7)) is None
        # the daily 112 reply: once, then not again until a day later
        assert blocks.claim_daily_notice(s, block, now)
        assert not blocks.claim_daily_notice(s, block, now + timedelta(hours=23))
        assert blocks.claim_daily_notice(s, block, now + timedelta(hours=25))
        blocks.lift_block(s, block.id, actor_id=2, now=now + timedelta(hours=1))
        assert blocks.active_block(s, "sms_sender", "h" * 64, now + timedelta(hours=2)) is None
        details = s.scalars(sa.select(AuditEvent.detail)).all()
    assert details and not any("h" * 8 in (d or "") for d in details)  # no hash in the audit log


def test_a_blocked_web_conversation_gets_112_no_turn_and_can_still_erase(sqlite_url):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import Settings
    from tests.unit.fakes import FakeRasa
    from translations.catalog import Catalog

    upgrade_database(sqlite_url)
    rasa = FakeRasa()
    app = create_app(Settings(database_url=sqlite_url, environment="test", detect_language=False),
                     rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app) as client:
        conv = client.post("/api/webchat/messages", json={"text": "hej", "language": "sv"}
                           ).json()["conversation_id"]
        with Database(sqlite_url).session() as s:
            blocks.create_block(s, blocks.BlockRequest(
                "webchat", app.state.abuse.conversation_hash(conv), 24, "abusive"),
                actor_id=1, now=utcnow(), max_days=92)
        refused = client.post("/api/webchat/messages", json={"text": "spam", "conversation_id": conv})
        erased = client.delete(f"/api/webchat/conversations/{conv}")
    assert refused.status_code == 403
    [message] = refused.json()["messages"]
    assert message["response"] == "utter_blocked"
    assert message["text"] == Catalog.load().render("utter_blocked", "sv", "web")
    assert "112" in message["text"] and "DELETE" in message["text"]
    assert len(rasa.received) == 1
    assert erased.status_code == 200
    with Database(sqlite_url).session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AbuseBlock)) == 1
