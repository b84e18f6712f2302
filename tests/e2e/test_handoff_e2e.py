"""Asking for a person through the real Rasa, action server and gateway: consent first, then
the escalation is written and the on-call coordinator of the named region is paged."""

from __future__ import annotations

import re
import time

import httpx

import sqlalchemy as sa

from gateway.escalation.models import AuditEvent, Escalation
from gateway.models import OutboxMessage
from tests.e2e.conftest import PAGER, PASSWORD, console_code
from tests.e2e.test_webchat_e2e import say

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
    def pages() -> list[dict]:
        return [m for m in fake_twilio.created
                if m["To"] == PAGER and escalation.reference in m["Body"]]

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not pages():
        time.sleep(0.2)
    [page_sms] = pages()  # exactly one page for this request
    assert page_sms["From"] == "+46700000000"
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
        login = console.post("/console/login", data={"username": "anna-e2e", "password": PASSWORD,
                                                     "code": console_code()})
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


def test_after_112_the_person_is_offered_a_coordinator_and_is_paged_as_urgent(gateway, db):
    conv, said = turn(gateway, "help me, he is hitting me", language="en")
    assert said == ["utter_emergency", "utter_emergency_offer_handoff"]
    # Yes to the offer: the same explanation and consent questions as asking for a person.
    assert turn(gateway, "yes", conv)[1] == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "yes", conv)[1] == ["utter_ask_handoff_may_contact"]
    assert turn(gateway, "no", conv)[1] == ["utter_ask_handoff_place"]
    assert turn(gateway, "Malmö", conv)[1][0] in ("utter_handoff_paged", "utter_handoff_fallback")
    with db.session() as s:
        escalation = s.scalar(sa.select(Escalation).where(Escalation.conversation_id == conv))
        assert (escalation.region_code, escalation.urgency, escalation.reason,
                escalation.may_contact) == ("syd", "danger", "emergency_danger", False)


def test_no_to_the_offer_after_112_sends_nothing(gateway, db):
    conv, said = turn(gateway, "ajutor, ma bate", language="ro")
    assert said == ["utter_emergency", "utter_emergency_offer_handoff"]
    assert turn(gateway, "nu", conv)[1] == ["utter_handoff_cancelled"]
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)
                        .where(Escalation.conversation_id == conv)) == 0


def test_cancel_at_the_last_question_sends_nothing(gateway, db):
    conv, said = turn(gateway, "vreau să vorbesc cu o persoană", language="ro")
    assert said == ["utter_handoff_explain", "utter_ask_handoff_confirmed"]
    assert turn(gateway, "da", conv)[1] == ["utter_ask_handoff_may_contact"]
    assert turn(gateway, "da", conv)[1] == ["utter_ask_handoff_place"]
    assert turn(gateway, "anulează", conv)[1] == ["utter_handoff_cancelled"]
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)
                        .where(Escalation.conversation_id == conv)) == 0


def test_a_chat_from_a_vast_teams_qr_code_is_not_asked_the_town(gateway, db, vast_on_call):
    from gateway.outreach.models import OutreachDailyCount
    from gateway.outreach.service import add_source

    with db.session() as s:
        add_source(s, code="vast-street-e2e", label="Street team, e2e", region_code="vast")
    resp = gateway.post("/api/webchat/messages", json={
        "text": "chcę porozmawiać z człowiekiem", "language": "pl", "source": "vast-street-e2e"})
    assert resp.status_code == 200, resp.text
    conv = resp.json()["conversation_id"]
    assert turn(gateway, "tak", conv)[1] == ["utter_ask_handoff_may_contact"]
    # The source's region is known: the next answer already starts the request.
    assert turn(gateway, "tak", conv)[1] == ["utter_handoff_paged"]
    with db.session() as s:
        escalation = s.scalar(sa.select(Escalation).where(Escalation.conversation_id == conv))
        assert (escalation.region_code, escalation.urgency) == ("vast", "normal")
        counted = s.scalar(sa.select(OutreachDailyCount.conversations).where(
            OutreachDailyCount.source_code == "vast-street-e2e",
            OutreachDailyCount.language == "pl"))
        assert counted == 1
