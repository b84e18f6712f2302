"""Issue 11, item 13 (the rest): Rasa and the action server get only the RIGHTSLINE_ variables
they read; the public /healthz calls nothing; the conversation id stays out of URLs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import upgrade_database
from scripts.stack import Stack, loopback_settings, variables_read_by, PROCESS_SOURCES
from tests.unit.fakes import FakeRasa

SECRETS_OF_THE_GATEWAY = ("RIGHTSLINE_SENDER_HASH_KEY", "RIGHTSLINE_ENCRYPTION_KEY",
                          "RIGHTSLINE_TWILIO_AUTH_TOKEN", "RIGHTSLINE_DATABASE_URL")


def test_rasa_and_the_actions_get_only_what_they_read(tmp_path, monkeypatch):
    monkeypatch.setenv("RIGHTSLINE_RASA_REDIS_PASSWORD", "the-operator-set-this")
    monkeypatch.setenv("RIGHTSLINE_SOMETHING_ELSE", "not for rasa")
    stack = Stack(settings=loopback_settings(tmp_path), log_dir=tmp_path)
    gateway, rasa, actions = stack.env("gateway"), stack.env("rasa"), stack.env("actions")
    for secret in SECRETS_OF_THE_GATEWAY:
        assert secret in gateway
        assert secret not in rasa and secret not in actions
    assert {"RIGHTSLINE_INTERNAL_TOKEN", "RIGHTSLINE_NLG_URL", "RIGHTSLINE_ACTIONS_URL"} <= set(rasa)
    assert {"RIGHTSLINE_INTERNAL_TOKEN", "RIGHTSLINE_GATEWAY_INTERNAL_URL"} <= set(actions)
    # The operator's own variable for Rasa's tracker store reaches Rasa, nothing else does.
    assert rasa["RIGHTSLINE_RASA_REDIS_PASSWORD"] == "the-operator-set-this"
    assert "RIGHTSLINE_RASA_REDIS_PASSWORD" not in actions
    assert "RIGHTSLINE_SOMETHING_ELSE" not in rasa
    assert {k for k in rasa if k.startswith("RIGHTSLINE_")} <= variables_read_by(
        PROCESS_SOURCES["rasa"])
    assert {k for k in actions if k.startswith("RIGHTSLINE_")} <= variables_read_by(
        PROCESS_SOURCES["actions"])
    assert "PATH" in rasa  # the rest of the environment stays


@pytest.fixture
def client(sqlite_url):
    upgrade_database(sqlite_url)
    rasa = FakeRasa(reply="utter_greet")
    rasa.is_down = True  # /healthz must not ask it (nor anything else)
    app = create_app(Settings(database_url=sqlite_url, environment="test", detect_language=False,
                              actions_port=1),
                     rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app) as c:
        yield c


def test_public_health_answers_from_local_state_only(client, monkeypatch):
    import httpx

    def no_calls(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("the public health check made an outbound call")

    monkeypatch.setattr(httpx, "get", no_calls)
    monkeypatch.setattr(client.app.state.rasa, "is_up", no_calls)
    monkeypatch.setattr(client.app.state.db, "ping", no_calls)
    resp = client.get("/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok"})
    assert "/internal/health" not in client.get("/openapi.json").json()["paths"]


def test_the_conversation_id_travels_in_a_header(client):
    first = client.post("/api/webchat/messages", json={"text": "hello", "language": "en"}).json()
    conv = first["conversation_id"]
    header = {"X-Conversation-Id": conv}
    polled = client.get("/api/webchat/conversation/messages", headers=header)
    assert polled.status_code == 200
    assert [m["id"] for m in polled.json()["messages"]] == [m["id"] for m in first["messages"]]
    last = first["messages"][-1]["id"]
    assert client.get("/api/webchat/conversation/messages", params={"after": last},
                      headers=header).json()["messages"] == []
    assert client.get("/api/webchat/conversation/messages").status_code == 422  # no id
    assert client.get("/api/webchat/conversation/messages",
                      headers={"X-Conversation-Id": "not..an id"}).status_code == 422
    assert client.get("/api/webchat/conversation/messages",
                      headers={"X-Conversation-Id": "B" * 32}).status_code == 404
    erased = client.delete("/api/webchat/conversation", headers=header)
    assert erased.status_code == 200 and erased.json()["conversation_id"] is None
    assert client.delete("/api/webchat/conversation", headers=header).status_code == 404


def test_the_old_paths_are_marked_deprecated_in_the_spec(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/webchat/conversations/{conversation_id}/messages"]["get"]["deprecated"]
    assert paths["/api/webchat/conversations/{conversation_id}"]["delete"]["deprecated"]
    assert "deprecated" not in paths["/api/webchat/conversation/messages"]["get"]


def test_the_page_script_sends_the_id_in_a_header_not_in_the_url():
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "gateway" / "static" / "chat.js").read_text()
    assert "/api/webchat/conversations/" not in script
    assert 'setRequestHeader("X-Conversation-Id"' in script
