"""Asking for a person through the real Rasa, action server and gateway: consent first, then
the escalation is written and the on-call coordinator of the named region is paged."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import httpx

import pytest
import sqlalchemy as sa

from gateway.db import Database
from gateway.escalation.passwords import hash_password
from gateway.escalation.models import AuditEvent, Escalation, OnCallShift, StaffUser
from gateway.models import OutboxMessage, utcnow
from gateway.sms.privacy import NumberVault
from tests.e2e.test_webchat_e2e import say

PAGER = "+46701234000"
PASSWORD = "correct horse battery e2e"


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
                         pager_encrypted=vault.encrypt(PAGER), pager_hash=vault.sender_hash(PAGER),
                         password_hash=hash_password(PASSWORD))
        session.add(anna)
        session.flush()
        session.add(OnCallShift(region_code="vast", staff_id=anna.id, position="primary",
                                starts_at=utcnow() - timedelta(hours=1),
                                ends_at=utcnow() + timedelta(hours=2)))
    return vault


def turn(gateway, text, conversation_id=None, language=None) -> tuple[str, list[str]]:
    data = say(gateway, text, conversation_id, language)
    return data["conversation_id"], [m["response"] for m in data["messages"]]


def test_a_polish_user_consents_names_goteborg_and_vast_is_paged(gateway, db, vast_on_call,
                                                                fake_twilio):
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
    # The gateway's outbox worker sends the page through the twilio REST client: the
    # coordinator's phone (the fake Twilio API) gets it.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not any(m["To"] == PAGER for m in fake_twilio.created):
        time.sleep(0.2)
    [page_sms] = [m for m in fake_twilio.created if m["To"] == PAGER]
    assert escalation.reference in page_sms["Body"] and page_sms["From"] == "+46700000000"
    assert page_sms["StatusCallback"].endswith("/sms/twilio/status")


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_the_coordinator_signs_in_acknowledges_reads_and_replies(gateway, stack, db):
    # Continues the Polish conversation of the test above.
    with db.session() as s:
        escalation = s.scalars(sa.select(Escalation).where(Escalation.region_code == "vast")
                               .order_by(Escalation.id.desc())).first()
        esc_id, ref, conv = escalation.id, escalation.reference, escalation.conversation_id
    turn(gateway, "czy ktoś mi pomoże w Göteborgu", conv)  # a message for the coordinator to read
    with httpx.Client(base_url=stack.settings.gateway_url, timeout=30) as console:
        login = console.post("/console/login", data={"username": "anna-e2e", "password": PASSWORD})
        assert login.status_code == 303
        queue = console.get("/console")
        assert ref in queue.text
        view = console.get(f"/console/escalations/{esc_id}")
        assert "czy ktoś mi pomoże w Göteborgu" in view.text
        assert "Maskinöversatt" in view.text  # the Swedish machine translation beside it
        assert "no machine translation available" not in view.text
        assert "+4670" not in view.text
        ack = console.post(f"/console/escalations/{esc_id}/ack", data={"csrf": csrf(view.text)})
        assert ack.status_code == 303
        view = console.get(f"/console/escalations/{esc_id}")
        reply = console.post(f"/console/escalations/{esc_id}/reply",
                             data={"csrf": csrf(view.text), "text": "Hej, jag heter Anna.",
                                   "lang": "sv"})
        assert reply.status_code == 303
    # The person receives the reply, marked machine translated, without reloading.
    later = gateway.get(f"/api/webchat/conversations/{conv}/messages").json()["messages"]
    replies = [m for m in later if m["response"] == "coordinator_reply"]
    assert len(replies) == 1 and replies[0]["machine_translated"] is True
    assert "Anna" in replies[0]["text"]
    # While the coordinator holds the conversation, the bot stays out.
    assert turn(gateway, "dziękuję", conv)[1] == []
    with db.session() as s:
        actions = s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)).all()
    for step in ("requested", "paged_primary", "sign_in", "viewed_queue", "viewed",
                 "acknowledged", "replied"):
        assert step in actions, step


def test_no_means_nothing_is_sent(gateway, db):
    conv, said = turn(gateway, "I want to talk to a real person", language="en")
    assert said == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "no", conv)[1] == ["utter_handoff_cancelled"]
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)
                        .where(Escalation.conversation_id == conv)) == 0
