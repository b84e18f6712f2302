"""Issue 11, items 10, 13 and 16: bodies are refused before they are read, errors never echo the
input, a strange Authorization header is a 401, internal routes are not in the public spec."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database, make_engine
from gateway.limits import limit_for
from tests.unit.fakes import FakeRasa


@pytest.fixture
def client(sqlite_url):
    upgrade_database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test", detect_language=False)
    rasa = FakeRasa(reply="utter_greet")
    app = create_app(settings, rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app) as c:
        c.rasa = rasa
        yield c


@pytest.mark.parametrize("path", ["/api/webchat/messages", "/console/login", "/sms/twilio/inbound",
                                  "/nlg", "/chat"])
def test_a_declared_huge_body_is_refused_before_it_is_read(client, path):
    r = client.post(path, content=b"x" * (2 * 1024 * 1024),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(client):
    def chunks():
        for _ in range(100):
            yield b"a" * 1024

    r = client.post("/api/webchat/messages", content=chunks(),
                    headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.rasa.received == []


def test_the_rota_upload_may_be_larger_than_a_chat_message():
    assert limit_for("/console/admin/rota") > limit_for("/api/webchat/messages")
    assert limit_for("/console/admin/rotation") == limit_for("/nothing")


def test_a_validation_error_says_what_is_wrong_without_echoing_the_input(client):
    secret = "my name is Maria and I live at Storgatan 1"
    r = client.post("/api/webchat/messages", json={"text": secret, "unknown": secret})
    assert r.status_code == 422
    assert secret not in r.text
    assert r.json()["detail"][0]["loc"]


def test_a_non_ascii_authorization_header_is_a_401_not_a_500(client):
    r = client.post("/nlg", json={}, headers={"Authorization": "Bearer ÿÿÿ".encode("latin-1")})
    assert r.status_code == 401


def test_internal_routes_are_not_in_the_public_openapi(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/internal") or p == "/nlg"]
    assert "/api/webchat/messages" in paths


def test_database_errors_do_not_carry_parameters(sqlite_url):
    upgrade_database(sqlite_url)
    engine = make_engine(sqlite_url)
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO conversation (id, channel) VALUES (:a, :b)"),
                     [{"a": "same", "b": "+46701234567"}, {"a": "same", "b": "+46701234567"}])
    assert "+46701234567" not in str(caught.value)
