"""Every core language through the real Rasa: danger gets 112 first, answers come in the
person's language (detected from the text when nobody chose one)."""

from __future__ import annotations

import pytest

from translations.catalog import Catalog

URL = "/api/webchat/messages"

# One plain "I am in danger" message per core language, in the way people write them.
DANGER = {
    "sv": "hjälp mig, han slår mig",
    "en": "help me please he is hurting me",
    "ro": "ajutor, sunt in pericol",
    "bg": "pomoshch, v opasnost sum",
    "hu": "segitseg, veszelyben vagyok",
    "pl": "pomocy, jestem w niebezpieczeństwie",
    "ru": "помогите, мне угрожают убить",
    "uk": "допоможіть, мене б'ють",
    "es": "ayuda, estoy en peligro",
    "fr": "au secours, je suis en danger",
    "th": "ฉันอยู่ในอันตราย ช่วยด้วย",
    "zh": "救命，我有危险",
    "ar": "ساعدوني أنا في خطر",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.mark.parametrize("lang", sorted(DANGER))
def test_danger_gets_the_emergency_answer_in_every_core_language(gateway, catalog, lang):
    resp = gateway.post(URL, json={"text": DANGER[lang], "language": lang})
    assert resp.status_code == 200
    first = resp.json()["messages"][0]
    assert first["response"] == "utter_emergency", (lang, first)
    assert first["text"] == catalog.render("utter_emergency", lang, "web")
    assert "112" in first["text"].splitlines()[0]


def test_romanian_reflection_period_question_is_answered_in_romanian(gateway, catalog):
    body = gateway.post(URL, json={"text": "Ce este perioada de reflecție?"}).json()
    assert body["language"] == "ro"
    [message] = body["messages"]
    assert message["response"] == "utter_reflection_period"
    assert message["text"] == catalog.render("utter_reflection_period", "ro", "web")


def test_thai_danger_message_is_answered_with_the_thai_emergency_text(gateway, catalog):
    body = gateway.post(URL, json={"text": "ฉันอยู่ในอันตราย ช่วยด้วย"}).json()
    assert body["language"] == "th"
    assert body["messages"][0]["response"] == "utter_emergency"
    assert body["messages"][0]["text"] == catalog.render("utter_emergency", "th", "web")


def test_danger_wins_in_the_middle_of_another_topic(gateway):
    conv = gateway.post(URL, json={"text": "jak złożyć zawiadomienie na policję", "language": "pl"}).json()
    reply = gateway.post(URL, json={"text": "pomocy, on mnie bije",
                                    "conversation_id": conv["conversation_id"]}).json()
    assert reply["messages"][0]["response"] == "utter_emergency"
    assert reply["language"] == "pl"
