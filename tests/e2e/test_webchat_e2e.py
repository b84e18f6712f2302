"""Real conversations through the gateway's HTTP API, with the real Rasa and action server.

The Swedish answer depends on the action server (it sets the language slot that /nlg
renders from) and every answer depends on Rasa, so these fail if either is broken.
"""

from __future__ import annotations

import sqlalchemy as sa

from gateway.db import Database
from gateway.models import Message

URL = "/api/webchat/messages"


def say(gateway, text, conversation_id=None, language=None) -> dict:
    body = {"text": text}
    if conversation_id:
        body["conversation_id"] = conversation_id
    if language:
        body["language"] = language
    resp = gateway.post(URL, json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_health_reports_every_part(gateway, stack):
    # Behind the internal token (issue 11, item 13): the public /healthz calls nothing.
    token = stack.settings.internal_token.get_secret_value()
    resp = gateway.get("/internal/health", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "database": "ok", "rasa": "ok", "actions": "ok"}


def test_reflection_period_in_english_mentions_30_days(gateway):
    reply = say(gateway, "What is the reflection period?")
    assert reply["language"] == "en"
    [message] = reply["messages"]
    assert message["response"] == "utter_reflection_period"
    assert "30 days" in message["text"]
    assert message["machine_translated"] is False


def test_reflection_period_in_swedish_is_answered_in_swedish(gateway):
    reply = say(gateway, "Vad är betänketid?", language="sv")
    assert reply["language"] == "sv"
    [message] = reply["messages"]
    assert message["response"] == "utter_reflection_period"
    assert "30 dagar" in message["text"]


def test_a_conversation_keeps_its_language_and_rasa_sees_only_its_id(gateway, stack):
    first = say(gateway, "hej", language="sv")
    conv = first["conversation_id"]
    second = say(gateway, "jag är i fara, hjälp mig", conversation_id=conv)
    assert second["language"] == "sv"
    assert second["messages"][0]["response"] == "utter_emergency"
    assert "112" in second["messages"][0]["text"]
    tracker = stack_tracker(stack, conv)
    assert tracker["sender_id"] == conv
    assert tracker["slots"]["language"] == "sv"


def test_slash_commands_cannot_drive_the_dialogue(gateway, stack):
    conv = say(gateway, "hello")["conversation_id"]
    say(gateway, "/restart", conversation_id=conv)
    say(gateway, "/emergency_danger", conversation_id=conv)
    events = stack_tracker(stack, conv)["events"]
    user_texts = [e.get("text") for e in events if e["event"] == "user"]
    assert not any(t and t.startswith("/") for t in user_texts)
    assert not any(e["event"] == "restart" for e in events)
    # A real command would arrive with confidence exactly 1.0 from the regex parser.
    last = [e for e in events if e["event"] == "user"][-1]
    assert last["parse_data"]["intent"]["name"] != "emergency_danger" or (
        last["parse_data"]["intent"]["confidence"] < 1.0
    )


def test_messages_are_stored_both_ways(gateway, stack):
    conv = say(gateway, "what are my rights?")["conversation_id"]
    db = Database(stack.settings.database_url)
    with db.session() as s:
        rows = s.scalars(sa.select(Message).where(Message.conversation_id == conv)
                         .order_by(Message.id)).all()
        directions = [(m.direction, m.response_name) for m in rows]
    db.dispose()
    assert directions == [("inbound", None), ("outbound", "utter_rights")]


def stack_tracker(stack, conversation_id: str) -> dict:
    import httpx

    resp = httpx.get(
        f"{stack.settings.rasa_url}/conversations/{conversation_id}/tracker",
        params={"token": stack.settings.internal_token.get_secret_value()},
        timeout=10,
    )
    resp.raise_for_status()
    return resp.json()


def test_delete_erases_the_conversation_in_the_database_and_in_rasa(gateway, stack):
    conv = say(gateway, "what is the reflection period", language="en")["conversation_id"]
    assert any(e["event"] == "user" for e in stack_tracker(stack, conv)["events"])
    reply = say(gateway, "DELETE", conversation_id=conv)
    assert reply["conversation_id"] is None
    assert reply["messages"][0]["response"] == "utter_conversation_deleted"
    events = stack_tracker(stack, conv)["events"]
    assert not any(e["event"] in ("user", "bot") for e in events)
    db = Database(stack.settings.database_url)
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Message)
                        .where(Message.conversation_id == conv)) == 0
    db.dispose()
