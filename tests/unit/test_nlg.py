"""Rasa's NLG endpoint renders from the catalog for the conversation's language and channel."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import LOCAL_INTERNAL_TOKEN, Settings
from tests.unit.fakes import FakeRasa

AUTH = {"Authorization": f"Bearer {LOCAL_INTERNAL_TOKEN}"}


@pytest.fixture
def client(sqlite_url):
    app = create_app(Settings(database_url=sqlite_url, environment="test"), rasa=FakeRasa().client())
    with TestClient(app) as c:
        yield c


def nlg_body(response: str, language: str | None, channel: str = "webchat") -> dict:
    return {
        "response": response,
        "arguments": {},
        "tracker": {"sender_id": "x", "slots": {"language": language},
                    "latest_message": {"metadata": {"language": language, "channel": channel}}},
        "channel": {"name": "rest"},
    }


def test_nlg_needs_the_internal_token(client):
    assert client.post("/nlg", json=nlg_body("utter_greet", "en")).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/nlg", json=nlg_body("utter_greet", "en"), headers=bad).status_code == 401


def test_nlg_renders_the_language_slot_and_web_form(client):
    body = client.post("/nlg", json=nlg_body("utter_reflection_period", "sv"), headers=AUTH).json()
    custom = body["custom"]
    assert custom["response"] == "utter_reflection_period"
    assert custom["language"] == "sv"
    assert "30" in custom["text"]
    assert custom["text"] != client.post(
        "/nlg", json=nlg_body("utter_reflection_period", "en"), headers=AUTH
    ).json()["custom"]["text"]


def test_nlg_renders_the_sms_form_for_sms(client):
    web = client.post("/nlg", json=nlg_body("utter_emergency", "en"), headers=AUTH).json()
    sms = client.post("/nlg", json=nlg_body("utter_emergency", "en", "sms"), headers=AUTH).json()
    assert len(sms["custom"]["text"]) < len(web["custom"]["text"])
    assert "112" in sms["custom"]["text"]
    assert "{emergency}" not in sms["custom"]["text"]


def test_an_unknown_response_falls_back_to_the_default_answer(client):
    body = client.post("/nlg", json=nlg_body("utter_does_not_exist", "en"), headers=AUTH).json()
    assert body["custom"]["response"] == "utter_default"
    assert "112" in body["custom"]["text"]


def mt_client(sqlite_url, translator):
    app = create_app(Settings(database_url=sqlite_url, environment="test"),
                     rasa=FakeRasa().client(), translator=translator)
    return TestClient(app)


def test_a_language_without_content_gets_english_machine_translated_and_labelled(sqlite_url):
    from translations.mt import FakeTranslator

    with mt_client(sqlite_url, FakeTranslator({("en", "de"), ("de", "en")})) as client:
        custom = client.post("/nlg", json=nlg_body("utter_emergency", "de"), headers=AUTH).json()["custom"]
    assert custom["machine_translated"] is True
    assert custom["language"] == "de"
    assert custom["text"].startswith("[de] If you are in danger now, call 112")


def test_a_translation_that_loses_a_phone_number_is_not_sent(sqlite_url):
    class NumberEatingTranslator:
        def languages(self):
            return {"de", "en"}

        def can_translate(self, source, target):
            return True

        def translate(self, text, source, target):
            return "".join(ch for ch in text if not ch.isdigit())

    with mt_client(sqlite_url, NumberEatingTranslator()) as client:
        custom = client.post("/nlg", json=nlg_body("utter_emergency", "de"), headers=AUTH).json()["custom"]
    assert custom["machine_translated"] is False
    assert custom["language"] == "en"
    assert "112" in custom["text"]
