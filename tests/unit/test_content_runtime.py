"""What the texts say is what the gateway does: the retention period comes from the setting
through the NLG, and MORE sends the full answer of the last answer."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import LOCAL_INTERNAL_TOKEN, Settings
from gateway.conversations import service as conversations
from gateway.db import Database
from gateway.models import Base
from gateway.sms.keywords import last_answer, match_sms_keyword, more_reply
from translations.catalog import Catalog
from tests.unit.fakes import FakeRasa

AUTH = {"Authorization": f"Bearer {LOCAL_INTERNAL_TOKEN}"}


def nlg_body(response: str, language: str, channel: str = "webchat") -> dict:
    return {"response": response, "arguments": {},
            "tracker": {"sender_id": "x", "slots": {"language": language},
                        "latest_message": {"metadata": {"language": language, "channel": channel}}},
            "channel": {"name": "rest"}}


def test_the_privacy_answer_states_the_retention_setting_in_every_form(sqlite_url):
    settings = Settings(database_url=sqlite_url, environment="test", retention_days=17)
    app = create_app(settings, rasa=FakeRasa().client())
    with TestClient(app) as client:
        for lang in ("en", "ar", "th"):
            for channel in ("webchat", "sms"):
                text = client.post("/nlg", json=nlg_body("utter_privacy", lang, channel),
                                   headers=AUTH).json()["custom"]["text"]
                assert "17" in text and "{" not in text, (lang, channel, text)


def test_more_continues_the_last_answer_not_a_keyword_reply(sqlite_url):
    db = Database(sqlite_url)
    Base.metadata.create_all(db.engine)
    catalog = Catalog.load()
    with db.session() as s:
        conversation = conversations.open_conversation(s, channel="sms", language="ru")
        for name in ("utter_reflection_period", "utter_sms_help"):
            conversations.record_message(s, conversation, direction="outbound", text="...",
                                         language="ru", response_name=name)
        assert last_answer(s, conversation.id) == "utter_reflection_period"
    assert match_sms_keyword("ЕЩЁ") == "more"
    parts = more_reply(catalog, "utter_reflection_period", "ru")
    assert len(parts) > 1  # the web form is longer than one three-segment message
    assert " ".join(parts).split() == catalog.render("utter_reflection_period", "ru", "web").split()
    assert more_reply(catalog, None, "en") == [catalog.render("utter_sms_help", "en", "sms")]
