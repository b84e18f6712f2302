"""Asking for a person through the real Rasa, action server and gateway: consent first, then
the escalation is written and the on-call coordinator of the named region is paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from gateway.db import Database
from gateway.escalation.models import AuditEvent, Escalation, OnCallShift, StaffUser
from gateway.models import OutboxMessage, utcnow
from gateway.sms.privacy import NumberVault
from tests.e2e.test_webchat_e2e import say

PAGER = "+46701234000"


@pytest.fixture(scope="module")
def db(stack):
    database = Database(stack.settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def vast_on_call(stack, db) -> NumberVault:
    s = stack.settings
    vault = NumberVault(s.sender_hash_key.get_secret_value(), s.encryption_key.get_secret_value())
    with db.session() as session:
        anna = StaffUser(username="anna-e2e", name="Anna", role="coordinator", region_code="vast",
                         pager_encrypted=vault.encrypt(PAGER), pager_hash=vault.sender_hash(PAGER))
        session.add(anna)
        session.flush()
        session.add(OnCallShift(region_code="vast", staff_id=anna.id, position="primary",
                                starts_at=utcnow() - timedelta(hours=1),
                                ends_at=utcnow() + timedelta(hours=2)))
    return vault


def turn(gateway, text, conversation_id=None, language=None) -> tuple[str, list[str]]:
    data = say(gateway, text, conversation_id, language)
    return data["conversation_id"], [m["response"] for m in data["messages"]]


def test_a_polish_user_consents_names_goteborg_and_vast_is_paged(gateway, db, vast_on_call):
    conv, said = turn(gateway, "chcę porozmawiać z człowiekiem", language="pl")
    assert said == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "tak", conv)[1] == ["utter_ask_handoff_may_contact"]
    assert turn(gateway, "tak", conv)[1] == ["utter_ask_handoff_place"]
    assert turn(gateway, "Göteborg", conv)[1] == ["utter_handoff_paged"]
    with db.session() as s:
        escalation = s.scalar(sa.select(Escalation).where(Escalation.conversation_id == conv))
        assert (escalation.region_code, escalation.state, escalation.may_contact) == (
            "vast", "notified", True)
        [page] = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.conversation_id.is_(None))
                           .order_by(OutboxMessage.id.desc()).limit(1)).all()
        assert vast_on_call.decrypt(page.to_encrypted) == PAGER
        assert escalation.reference in page.body and "chc" not in page.body
        actions = s.scalars(sa.select(AuditEvent.action)
                            .where(AuditEvent.escalation_id == escalation.id)).all()
        assert actions == ["requested", "paged_primary"]


def test_no_means_nothing_is_sent(gateway, db):
    conv, said = turn(gateway, "I want to talk to a real person", language="en")
    assert said == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "no", conv)[1] == ["utter_handoff_cancelled"]
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)
                        .where(Escalation.conversation_id == conv)) == 0
