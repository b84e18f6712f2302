"""Runs last (file name): it stops Rasa in the shared stack."""

from __future__ import annotations

from tests.e2e.test_webchat_e2e import say


def test_zz_when_rasa_goes_down_the_user_still_gets_112_and_health_says_so(gateway, stack):
    stack.stop_one("rasa")
    reply = say(gateway, "what are my rights", language="en")
    assert reply["messages"][0]["response"] == "utter_unavailable"
    assert "112" in reply["messages"][0]["text"]
    health = gateway.get("/healthz")
    assert health.status_code == 503
    assert health.json()["rasa"] == "down" and health.json()["database"] == "ok"


def test_zz_danger_while_rasa_is_down_gets_the_emergency_text_first(gateway, stack):
    reply = say(gateway, "please help me, he is hurting me", language="en")
    assert [m["response"] for m in reply["messages"]] == ["utter_emergency", "utter_unavailable"]
