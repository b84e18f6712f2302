"""Runs last (file name): it stops Rasa in the shared stack."""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.test_webchat_e2e import say


def internal(stack) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {stack.settings.internal_token.get_secret_value()}"}


def test_zz_a_hanging_rasa_gets_the_fixed_answer_within_the_budget(gateway, stack):
    """Rasa stopped with SIGSTOP accepts connections and never answers: the fixed answer comes
    within RIGHTSLINE_RASA_TIMEOUT_SECONDS for the whole turn (it took 9.4 s against 8 s when
    the HTTP client's per-phase timeout was the only limit), and at once for the next person."""
    rasa = stack.processes["rasa"]
    budget = stack.settings.rasa_timeout_seconds
    os.killpg(rasa.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        reply = say(gateway, "what are my rights", language="en")
        first = time.monotonic() - started
        started = time.monotonic()
        again = say(gateway, "what is the reflection period", language="en")
        second = time.monotonic() - started
    finally:
        os.killpg(rasa.pid, signal.SIGCONT)
    print(f"\nrasa hanging: first fixed answer {first:.2f} s, next {second:.2f} s (budget {budget} s)")
    assert reply["messages"][0]["response"] == "utter_unavailable"
    assert again["messages"][0]["response"] == "utter_unavailable"
    assert first < budget
    assert second < 1.5


def test_zz_when_rasa_goes_down_the_user_still_gets_112_and_health_says_so(gateway, stack):
    stack.stop_one("rasa")
    started = time.monotonic()
    reply = say(gateway, "what are my rights", language="en")
    assert time.monotonic() - started < stack.settings.rasa_timeout_seconds
    assert reply["messages"][0]["response"] == "utter_unavailable"
    assert "112" in reply["messages"][0]["text"]
    # The public health check says only that the gateway answers (it does: with 112) ...
    public = gateway.get("/healthz")
    assert (public.status_code, public.json()) == (200, {"status": "ok"})
    # ... the parts are behind the internal token.
    assert gateway.get("/internal/health").status_code == 401
    health = gateway.get("/internal/health", headers=internal(stack))
    assert health.status_code == 503
    assert health.json()["rasa"] == "down" and health.json()["database"] == "ok"


def test_zz_danger_while_rasa_is_down_gets_the_emergency_text_first(gateway, stack):
    reply = say(gateway, "please help me, he is hurting me", language="en")
    assert [m["response"] for m in reply["messages"]] == ["utter_emergency", "utter_unavailable"]
