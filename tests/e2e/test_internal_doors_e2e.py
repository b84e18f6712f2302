"""Issue 11, item 12: only the gateway can talk to Rasa, only Rasa to the action server."""

from __future__ import annotations

import uuid

import httpx

from gateway.escalation.models import Escalation
from gateway.db import Database
import sqlalchemy as sa


def _escalations(stack) -> int:
    db = Database(stack.settings.database_url)
    try:
        with db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(Escalation)) or 0
    finally:
        db.dispose()


def test_rasa_takes_messages_only_from_the_gateway(stack):
    s = stack.settings
    before = _escalations(stack)
    body = {"sender": uuid.uuid4().hex, "message": "/emergency_danger",
            "metadata": {"language": "en", "channel": "webchat"}}
    with httpx.Client(timeout=20) as client:
        assert client.post(f"{s.rasa_url}/webhooks/rest/webhook", json=body).status_code == 404
        assert client.post(f"{s.rasa_url}/webhooks/gateway/webhook", json=body).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all-xx"}
        assert client.post(f"{s.rasa_url}/webhooks/gateway/webhook", json=body,
                           headers=wrong).status_code == 401
        right = {"Authorization": f"Bearer {s.internal_token.get_secret_value()}"}
        ok = client.post(f"{s.rasa_url}/webhooks/gateway/webhook",
                         json={**body, "message": "hello"}, headers=right)
    assert ok.status_code == 200 and ok.json()
    assert _escalations(stack) == before


def test_the_action_server_refuses_forged_action_calls(stack):
    s = stack.settings
    before = _escalations(stack)
    call = {"next_action": "action_request_handoff", "sender_id": uuid.uuid4().hex,
            "version": "3.6.2",
            "tracker": {"sender_id": "x", "slots": {"handoff_confirmed": True}, "events": [],
                        "latest_message": {"intent": {"name": "emergency_danger"}}},
            "domain": {}}
    with httpx.Client(timeout=20) as client:
        assert client.get(f"{s.actions_url}/health").status_code == 200
        assert client.post(f"{s.actions_url}/webhook", json=call).status_code == 401
        assert client.get(f"{s.actions_url}/actions").status_code == 401
    assert _escalations(stack) == before


def test_the_line_still_answers_through_the_gateway(gateway):
    r = gateway.post("/api/webchat/messages", json={"text": "What is the reflection period?"})
    assert r.status_code == 200
    assert r.json()["messages"][0]["response"] == "utter_reflection_period"


def test_a_turn_cut_short_leaves_no_message_text_in_rasas_log(stack):
    """Rasa's REST channel logs the person's words when a turn is cancelled (the caller timed
    out or went away): the gateway's channel must not (issue 11, item 15)."""
    s = stack.settings
    marker = f"zqx{uuid.uuid4().hex[:12]} I need a safe place tonight"
    right = {"Authorization": f"Bearer {s.internal_token.get_secret_value()}"}
    body = {"sender": uuid.uuid4().hex, "message": marker,
            "metadata": {"language": "en", "channel": "webchat"}}
    for _ in range(3):  # the caller gives up long before the turn can finish
        try:
            httpx.post(f"{s.rasa_url}/webhooks/gateway/webhook", json=body, headers=right,
                       timeout=0.005)
        except httpx.TimeoutException:
            pass
    with httpx.Client(timeout=20) as client:  # then one whole turn with the same words: the
        # action server gets the tracker (the words in it) for action_set_language
        answer = client.post(f"{s.rasa_url}/webhooks/gateway/webhook", headers=right, json=body)
        assert answer.status_code == 200 and answer.json()
    # Neither Rasa's log nor the action server's (both at the level the README recommends,
    # scripts/stack.py sets it whatever the shell says) carries the words.
    for name in ("rasa.log", "actions.log"):
        log = (stack.log_dir / name).read_text(encoding="utf-8", errors="replace")
        assert marker.split()[0] not in log, name
