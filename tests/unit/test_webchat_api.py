"""The web chat API with the real gateway and database and a fake Rasa."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.conversations.danger import NET_MIN_NLU_CONFIDENCE, signals_danger
from gateway.db import Database, upgrade_database
from gateway.models import Conversation, Message
from gateway.webchat.schemas import MAX_MESSAGE_CHARS
from tests.unit.fakes import FakeRasa

URL = "/api/webchat/messages"


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def app_env(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, environment="test"), rasa=rasa.client())
    with TestClient(app) as client:
        yield client, Database(sqlite_url)


def stored(db: Database) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(m.direction, m.text) for m in s.scalars(sa.select(Message).order_by(Message.id))]


def test_a_new_conversation_gets_an_unguessable_id_and_the_bot_reply(app_env, rasa):
    client, db = app_env
    first = client.post(URL, json={"text": "hello"}).json()
    second = client.post(URL, json={"text": "hello"}).json()
    assert first["conversation_id"] != second["conversation_id"]
    assert len(first["conversation_id"]) >= 32
    assert first["language"] == "en"
    assert first["messages"] == [
        {"text": "text of utter_greet", "response": "utter_greet", "machine_translated": False,
         "id": first["messages"][0]["id"], "kind": "bot"}
    ]
    assert rasa.received[0]["sender"] == first["conversation_id"]
    assert rasa.received[0]["metadata"] == {"language": "en", "channel": "webchat", "region": None}
    assert stored(db)[:2] == [("inbound", "hello"), ("outbound", "text of utter_greet")]


def test_the_conversation_continues_with_its_id(app_env, rasa):
    client, _ = app_env
    conv = client.post(URL, json={"text": "hello", "language": "sv"}).json()
    again = client.post(URL, json={"text": "och sen?", "conversation_id": conv["conversation_id"]})
    assert again.status_code == 200
    assert again.json()["language"] == "sv"  # sticky
    assert rasa.received[1]["sender"] == conv["conversation_id"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"text": ""}, "empty"),
        ({"text": "   \n\t "}, "empty"),
        ({"text": "x" * (MAX_MESSAGE_CHARS + 1)}, "longer than"),
        ({}, "text"),
        ({"text": "hi", "unexpected": 1}, "unexpected"),
        ({"text": "hi", "language": "not a language"}, "language"),
        ({"text": "hi", "conversation_id": "../../etc/passwd"}, "conversation_id"),
    ],
)
def test_bad_input_is_422_with_a_clear_message_and_nothing_reaches_rasa(app_env, rasa, body, needle):
    client, db = app_env
    resp = client.post(URL, json=body)
    assert resp.status_code == 422
    assert needle in resp.text
    assert rasa.received == []
    assert stored(db) == []


def test_a_body_that_is_not_utf8_is_refused(app_env, rasa):
    client, _ = app_env
    resp = client.post(URL, content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"})
    assert resp.status_code in (400, 422)
    assert rasa.received == []


def test_an_unknown_conversation_id_is_404(app_env):
    client, _ = app_env
    resp = client.post(URL, json={"text": "hi", "conversation_id": "A" * 32})
    assert resp.status_code == 404
    assert "unknown conversation_id" in resp.json()["detail"]


def test_slash_commands_never_reach_rasa_as_commands(app_env, rasa):
    client, db = app_env
    client.post(URL, json={"text": "/request_human"})
    client.post(URL, json={"text": "  //restart"})
    assert [r["message"] for r in rasa.received] == ["request_human", "restart"]
    assert ("inbound", "/request_human") in stored(db)  # the original is kept


def test_when_rasa_is_down_the_user_gets_112_in_their_language_and_the_message_is_kept(app_env, rasa):
    client, db = app_env
    rasa.is_down = True
    resp = client.post(URL, json={"text": "vad är betänketid", "language": "sv"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["language"] == "sv"
    assert body["messages"][0]["response"] == "utter_unavailable"
    assert "112" in body["messages"][0]["text"]
    assert ("inbound", "vad är betänketid") in stored(db)


def test_when_the_database_is_down_the_user_still_gets_112(sqlite_url, rasa, tmp_path):
    # The database URL points at a directory: every connection fails.
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}", environment="test"),
                     rasa=rasa.client())
    with TestClient(app) as client:
        resp = client.post(URL, json={"text": "help"})
    assert resp.status_code == 503
    assert "112" in resp.json()["messages"][0]["text"]
    assert "not saved" in resp.json()["detail"]


def test_an_unsupported_language_choice_is_said_in_english_and_swedish(app_env, rasa):
    client, _ = app_env
    body = client.post(URL, json={"text": "hello", "language": "xx"}).json()
    assert [m["response"] for m in body["messages"]] == [
        "utter_language_unsupported", "utter_language_unsupported", "utter_language_menu"]
    assert rasa.received == []


def test_pages_carry_privacy_headers_and_no_third_party_assets(app_env):
    client, _ = app_env
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # The only address outside the line is the quick exit's neutral site.
    outside = page.text.replace(Settings().quick_exit_url, "")
    assert "http://" not in outside and "https://" not in outside
    assert "<script>" not in page.text  # no inline script
    js = client.get("/static/chat.js")
    assert js.status_code == 200 and "https://" not in js.text


def test_delete_keyword_erases_the_conversation_here_and_in_rasa(app_env, rasa):
    client, db = app_env
    conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
    reply = client.post(URL, json={"text": "RADERA", "conversation_id": conv}).json()
    assert reply["conversation_id"] is None
    assert reply["messages"][0]["response"] == "utter_conversation_deleted"
    assert "112" in reply["messages"][0]["text"]
    assert stored(db) == []
    assert rasa.erased == [conv]
    again = client.post(URL, json={"text": "hej", "conversation_id": conv})
    assert again.status_code == 404


@pytest.mark.parametrize("word", ["language", "limba", "ЯЗЫК", "«لغة»"])
def test_language_keyword_shows_the_menu_without_asking_rasa(app_env, rasa, word):
    client, _ = app_env
    reply = client.post(URL, json={"text": word}).json()
    assert [m["response"] for m in reply["messages"]] == ["utter_language_menu"]
    assert "Română" in reply["messages"][0]["text"]
    assert rasa.received == []


def test_typing_a_language_name_switches_the_conversation(app_env, rasa):
    client, _ = app_env
    conv = client.post(URL, json={"text": "hello"}).json()["conversation_id"]
    reply = client.post(URL, json={"text": "Romana", "conversation_id": conv}).json()
    assert reply["language"] == "ro"
    assert reply["messages"][0]["response"] == "utter_greet"
    client.post(URL, json={"text": "ce drepturi am", "conversation_id": conv})
    assert rasa.received[-1]["metadata"]["language"] == "ro"


def test_a_question_about_deleting_is_not_the_keyword(app_env, rasa):
    client, db = app_env
    client.post(URL, json={"text": "can you delete my data?"})
    assert rasa.received[-1]["message"] == "can you delete my data?"
    assert len(stored(db)) == 2


def test_a_deployment_can_serve_only_reviewed_languages(sqlite_url, rasa):
    upgrade_database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test", reviewed_languages_only=True)
    app = create_app(settings, rasa=rasa.client())
    with TestClient(app) as client:
        body = client.post(URL, json={"text": "hej", "language": "sv"}).json()
    # Every language is still a draft, so Swedish is refused as a choice and said so.
    assert body["messages"][0]["response"] == "utter_language_unsupported"


def test_a_machine_translated_language_reaches_the_nlu_in_english(sqlite_url, rasa):
    from translations.mt import FakeTranslator

    upgrade_database(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, environment="test"), rasa=rasa.client(),
                     translator=FakeTranslator({("de", "en"), ("en", "de")}))
    with TestClient(app) as client:
        body = client.post(URL, json={"text": "Ich brauche Hilfe", "language": "de"}).json()
    assert body["language"] == "de"
    assert rasa.received[0]["message"] == "[en] Ich brauche Hilfe"
    assert rasa.received[0]["metadata"]["language"] == "de"


def test_a_first_message_in_a_language_without_content_or_mt_is_told_so(app_env, rasa):
    client, _ = app_env
    body = client.post(URL, json={"text": "Ich brauche bitte dringend Hilfe, was soll ich tun?"}).json()
    assert [m["response"] for m in body["messages"]] == [
        "utter_language_unsupported", "utter_language_unsupported", "utter_language_menu"]
    assert body["language"] == "en"
    assert rasa.received == []


def test_a_first_message_is_answered_in_the_detected_language(app_env, rasa):
    client, _ = app_env
    body = client.post(URL, json={"text": "ce este perioada de reflectie"}).json()
    assert body["language"] == "ro"
    assert rasa.received[0]["metadata"]["language"] == "ro"


def test_danger_the_nlu_missed_still_gets_the_emergency_answer_first(app_env, rasa):
    client, _ = app_env
    rasa.reply = "utter_housing"  # the NLU got it wrong
    body = client.post(URL, json={"text": "help me please he is hurting me", "language": "en"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_housing"]
    assert "112" in body["messages"][0]["text"]


def test_danger_when_rasa_is_down_gets_the_emergency_answer(app_env, rasa):
    client, _ = app_env
    rasa.is_down = True
    body = client.post(URL, json={"text": "ajutor, sunt in pericol", "language": "ro"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_unavailable"]


def test_an_ordinary_question_gets_no_emergency_text(app_env, rasa):
    client, _ = app_env
    rasa.reply = "utter_housing"
    body = client.post(URL, json={"text": "can you help me find housing", "language": "en"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_housing"]


def test_fair_nlu_confidence_in_danger_puts_the_emergency_answer_first(app_env, rasa):
    client, _ = app_env
    rasa.reply = "utter_default"
    rasa.emergency_confidence = 0.15
    body = client.post(URL, json={"text": "il défonce la porte", "language": "fr"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_default"]
    rasa.emergency_confidence = 0.05
    body = client.post(URL, json={"text": "quel temps fait-il", "language": "fr"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_default"]


def test_a_danger_phrase_counts_only_if_the_nlu_finds_danger_possible(app_env, rasa):
    """Phrases fire inside stories that are not danger; when the NLU read the message and
    gives danger almost nothing, the phrase alone does not put 112 first."""
    client, _ = app_env
    rasa.reply = "utter_police_report"
    story = "he took my passport and beat me, can i report him"
    assert signals_danger(story, "en")
    rasa.emergency_confidence = NET_MIN_NLU_CONFIDENCE / 2
    body = client.post(URL, json={"text": story, "language": "en"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_police_report"]
    rasa.emergency_confidence = NET_MIN_NLU_CONFIDENCE
    body = client.post(URL, json={"text": story, "language": "en"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_police_report"]


def test_a_short_cry_counts_whatever_the_nlu_says(app_env, rasa):
    client, _ = app_env
    rasa.reply = "utter_default"
    rasa.emergency_confidence = 0.0
    body = client.post(URL, json={"text": "помогите!!", "language": "ru"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_default"]


def test_when_the_nlu_confidence_cannot_be_read_the_phrases_decide(app_env, rasa):
    client, _ = app_env
    rasa.reply = "utter_default"
    rasa.emergency_confidence = None  # the tracker answers without an intent ranking
    body = client.post(URL, json={"text": "he is hitting me", "language": "en"}).json()
    assert [m["response"] for m in body["messages"]] == ["utter_emergency", "utter_default"]


def test_while_a_coordinator_has_the_conversation_the_bot_stays_out_but_danger_still_gets_112(app_env, rasa):
    from gateway.escalation.models import Region
    from gateway.escalation.service import request_escalation
    from gateway.models import utcnow

    client, db = app_env
    conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
    with db.session() as s:
        s.add(Region(code="vast", name="Väst"))
        s.flush()
        request_escalation(s, conversation_id=conv, region_code="vast", urgency="normal",
                           reason="request_human", may_contact=True, now=utcnow()).state = "acknowledged"
    sent_before = len(rasa.received)
    quiet = client.post(URL, json={"text": "när kommer du?", "conversation_id": conv}).json()
    assert quiet["messages"] == []
    danger = client.post(URL, json={"text": "hjälp mig, han slår mig", "conversation_id": conv}).json()
    assert [m["response"] for m in danger["messages"]] == ["utter_emergency"]
    assert len(rasa.received) == sent_before
    assert ("inbound", "när kommer du?") in stored(db)


def test_the_page_can_fetch_messages_that_arrived_later(app_env):
    from gateway.conversations import service

    client, db = app_env
    first = client.post(URL, json={"text": "hej", "language": "sv"}).json()
    conv = first["conversation_id"]
    seen = client.get(f"/api/webchat/conversations/{conv}/messages").json()["messages"]
    last_id = seen[-1]["id"]
    with db.session() as s:
        service.record_message(s, service.get_conversation(s, conv), direction="outbound",
                               text="[sv] Hej, jag heter Anna", language="sv",
                               response_name="coordinator_reply", is_machine_translated=True)
    later = client.get(f"/api/webchat/conversations/{conv}/messages", params={"after": last_id}).json()
    assert later["messages"] == [{"id": last_id + 1, "text": "[sv] Hej, jag heter Anna",
                                  "response": "coordinator_reply", "machine_translated": True,
                                  "kind": "coordinator"}]
    assert client.get(f"/api/webchat/conversations/{'A' * 32}/messages").status_code == 404
    assert client.get(f"/api/webchat/conversations/{conv}/messages", params={"after": -1}).status_code == 422


# --- a message delivered twice is taken once (client_message_id) -----------------------------

CLIENT_ID = "c1ient-message-id_0000000000000001"


def client_id(n: int) -> str:
    return f"page-made-id-{n:022d}"


def inbound_with(db: Database, channel_message_id: str) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Message).where(
            Message.direction == "inbound", Message.channel_message_id == channel_message_id))


def test_a_message_delivered_again_gets_the_first_answer_and_no_second_turn(app_env, rasa):
    client, db = app_env
    body = {"text": "hello", "language": "en", "client_message_id": CLIENT_ID}
    first = client.post(URL, json=body)
    again = client.post(URL, json=body)  # the first answer was lost on the way: the page retries
    assert first.status_code == again.status_code == 200
    assert first.json()["duplicate"] is False
    assert again.json() == {**first.json(), "duplicate": True}
    assert len(rasa.received) == 1
    assert inbound_with(db, CLIENT_ID) == 1
    with db.session() as s:
        assert s.scalar(sa.select(Message.channel).where(
            Message.channel_message_id == CLIENT_ID)) == "webchat"
    # With the conversation id it got in the meantime (a poll), the same.
    conv = first.json()["conversation_id"]
    third = client.post(URL, json={**body, "conversation_id": conv}).json()
    assert third == again.json() and len(rasa.received) == 1


def test_a_duplicate_after_further_turns_gets_only_the_answer_to_that_message(app_env, rasa):
    from gateway.conversations import service

    client, db = app_env
    first = client.post(URL, json={"text": "hello", "language": "en",
                                   "client_message_id": client_id(1)}).json()
    conv = first["conversation_id"]
    rasa.reply = "utter_housing"
    second = client.post(URL, json={"text": "where can I sleep", "conversation_id": conv,
                                    "client_message_id": client_id(2)}).json()
    with db.session() as s:  # a coordinator wrote after the second message
        later = service.record_message(s, service.get_conversation(s, conv), direction="outbound",
                                       text="I am Anna", language="en",
                                       response_name="coordinator_reply").id
    rasa.reply = "utter_default"
    client.post(URL, json={"text": "thanks", "conversation_id": conv,
                           "client_message_id": client_id(3)})
    assert len(rasa.received) == 3

    again = client.post(URL, json={"text": "hello", "language": "en",
                                   "client_message_id": client_id(1)}).json()
    assert again["duplicate"] is True and again["conversation_id"] == conv
    assert again["messages"] == first["messages"]
    again = client.post(URL, json={"text": "where can I sleep", "conversation_id": conv,
                                   "client_message_id": client_id(2)}).json()
    assert [m["id"] for m in again["messages"]] == [second["messages"][0]["id"], later]
    assert [m["kind"] for m in again["messages"]] == ["bot", "coordinator"]
    assert len(rasa.received) == 3


def test_a_duplicate_sent_with_another_conversation_id_is_409(app_env, rasa):
    client, db = app_env
    client.post(URL, json={"text": "hello", "client_message_id": CLIENT_ID})
    other = client.post(URL, json={"text": "hello"}).json()["conversation_id"]
    resp = client.post(URL, json={"text": "hello", "conversation_id": other,
                                  "client_message_id": CLIENT_ID})
    assert resp.status_code == 409
    assert "another conversation" in resp.json()["detail"]
    assert len(rasa.received) == 2 and inbound_with(db, CLIENT_ID) == 1


def test_a_client_message_id_used_again_for_another_text_is_409(app_env, rasa):
    client, _ = app_env
    conv = client.post(URL, json={"text": "hello", "client_message_id": CLIENT_ID}).json()
    resp = client.post(URL, json={"text": "something else", "client_message_id": CLIENT_ID,
                                  "conversation_id": conv["conversation_id"]})
    assert resp.status_code == 409
    assert "different text" in resp.json()["detail"]
    assert len(rasa.received) == 1


def test_a_duplicate_of_an_erased_conversation_is_404(app_env, rasa):
    client, db = app_env
    conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
    body = {"text": "och sen?", "conversation_id": conv, "client_message_id": client_id(1)}
    client.post(URL, json=body)
    assert client.delete(f"/api/webchat/conversations/{conv}").status_code == 200
    resp = client.post(URL, json=body)
    assert resp.status_code == 404
    assert "unknown conversation_id" in resp.json()["detail"]
    assert len(rasa.received) == 2

    # A message left behind by its erased conversation (the database enforced no foreign key)
    # is no way back into it either.
    conv = client.post(URL, json={"text": "hej", "language": "sv",
                                  "client_message_id": client_id(2)}).json()["conversation_id"]
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.exec_driver_sql("PRAGMA foreign_keys=OFF")
        c.exec_driver_sql("DELETE FROM conversation WHERE id = ?", (conv,))
    assert inbound_with(db, client_id(2)) == 1
    resp = client.post(URL, json={"text": "hej", "language": "sv",
                                  "client_message_id": client_id(2)})
    assert resp.status_code == 404
    assert len(rasa.received) == 3


@pytest.mark.parametrize("bad", ["x" * 21, "x" * 65, "abc def ghi jkl mno pqr st", "ö" * 30])
def test_a_malformed_client_message_id_is_422(app_env, rasa, bad):
    client, db = app_env
    resp = client.post(URL, json={"text": "hi", "client_message_id": bad})
    assert resp.status_code == 422 and "client_message_id" in resp.text
    assert rasa.received == [] and stored(db) == []


def test_when_the_database_is_down_a_message_with_a_client_id_still_gets_112(rasa, tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}", environment="test"),
                     rasa=rasa.client())
    with TestClient(app) as client:
        resp = client.post(URL, json={"text": "help", "client_message_id": CLIENT_ID})
    assert resp.status_code == 503
    assert "112" in resp.json()["messages"][0]["text"]


def test_an_integrity_error_that_is_no_duplicate_is_database_trouble(app_env, rasa, monkeypatch):
    from sqlalchemy.exc import IntegrityError

    from gateway.webchat import router

    def broken(*_args, **_kwargs):
        raise IntegrityError("INSERT ...", {}, Exception("some other constraint"))

    monkeypatch.setattr(router, "take_turn", broken)
    client, _ = app_env
    resp = client.post(URL, json={"text": "help", "client_message_id": CLIENT_ID})
    assert resp.status_code == 503
    assert "112" in resp.json()["messages"][0]["text"]


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_the_same_message_delivered_twice_at_once_takes_one_turn(database_url, rasa, monkeypatch,
                                                                 existing):
    """Both deliveries look for the message before either has stored it (a barrier holds them
    there), so both try to store it: the unique constraint lets one through."""
    import threading

    from sqlalchemy.exc import IntegrityError

    from gateway.webchat import router

    upgrade_database(database_url)
    db = Database(database_url)
    barrier = threading.Barrier(2)
    lock = threading.Lock()
    looks = {"armed": False, "held": 0}
    real_find, real_turn = router.find_original, router.take_turn
    refused: list[IntegrityError] = []

    def find_then_wait(s, client_message_id):  # noqa: ANN001, ANN202
        found = real_find(s, client_message_id)
        with lock:  # the first look of each delivery waits for the other's
            hold = looks["armed"] and looks["held"] < 2
            looks["held"] += hold
        if hold:
            barrier.wait(timeout=30)
        return found

    def turn(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        try:
            return real_turn(*args, **kwargs)
        except IntegrityError as exc:
            refused.append(exc)
            raise

    monkeypatch.setattr(router, "find_original", find_then_wait)
    monkeypatch.setattr(router, "take_turn", turn)
    rasa.delay = 0.3  # the winner is still waiting for Rasa when the loser answers
    app = create_app(Settings(database_url=database_url, environment="test"), rasa=rasa.client(),
                     start_outbox_worker=False)
    with TestClient(app) as client:
        body = {"text": "hello", "language": "en", "client_message_id": CLIENT_ID}
        if existing:
            conv = client.post(URL, json={"text": "hi", "language": "en"}).json()
            body["conversation_id"] = conv["conversation_id"]
            rasa.received.clear()
        looks["armed"] = True
        replies: list = []
        errors: list[BaseException] = []

        def deliver() -> None:
            try:
                replies.append(client.post(URL, json=body))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                barrier.abort()

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not errors, errors
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    bodies = [r.json() for r in replies]
    assert sorted(b["duplicate"] for b in bodies) == [False, True]
    assert bodies[0]["conversation_id"] == bodies[1]["conversation_id"]
    taken = next(b for b in bodies if not b["duplicate"])
    assert [m["response"] for m in taken["messages"]] == ["utter_greet"]
    assert len(refused) == 1  # the loser's insert met the unique constraint, before Rasa
    assert len(rasa.received) == 1
    assert inbound_with(db, CLIENT_ID) == 1
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 1
    db.dispose()
