"""Issue 11, item 17: with the database really unreachable (PostgreSQL on a closed port) every
path answers clearly (the person: 112 in their language, never "your message is saved"; staff:
a console page), and with Rasa unreachable or hanging the fixed answer comes within the budget
(a whole-turn deadline, and a breaker that remembers Rasa is down)."""

from __future__ import annotations

import socket
import threading
import time
import xml.etree.ElementTree as ET

import httpx
import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.bot.client import RasaClient
from gateway.config import Settings
from gateway.console import auth
from gateway.conversations.turn import RasaBreaker
from gateway.db import upgrade_database
from gateway.sms.simulator import inbound_params
from tests.unit.fakes import STRONG_TEST_SECRETS, FakeRasa

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://rightsline.example.org"
CONVERSATION = "A" * 32


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket goes


def settings_for(database_url: str, **overrides) -> Settings:
    values = dict(database_url=database_url, environment="test", twilio_auth_token=TOKEN,
                  public_base_url=PUBLIC, detect_language=False, **STRONG_TEST_SECRETS)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def no_database():
    """The gateway with its database URL pointing at a PostgreSQL port where nothing listens."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/rightsline"
    rasa = FakeRasa(reply="utter_greet")
    app = create_app(settings_for(url), rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.rasa = rasa
        yield client


def catalog_text(client: TestClient, name: str, lang: str, form: str = "web") -> str:
    return client.app.state.catalog.render(name, lang, form)


def assert_emergency_in(client: TestClient, resp: httpx.Response, lang: str,
                        name: str = "utter_emergency") -> None:
    """A request without a message (polling, erasing) gets the emergency text; a message that
    could not be kept gets utter_unavailable_unsaved, which says so and carries 112."""
    assert resp.status_code == 503, resp.text
    body = resp.json()
    assert body["language"] == lang
    [message] = body["messages"]
    assert message["response"] == name
    assert message["text"] == catalog_text(client, name, lang)
    assert "112" in message["text"]
    # True texts only: nothing claims the message was kept.
    assert "saved" not in message["text"].lower()


def test_a_web_chat_message_gets_112_in_its_language_and_is_not_called_saved(no_database):
    resp = no_database.post("/api/webchat/messages", json={"text": "Ce este perioada de reflecție?",
                                                            "language": "ro"})
    assert_emergency_in(no_database, resp, "ro", "utter_unavailable_unsaved")
    assert "not saved" in resp.json()["detail"]
    assert no_database.rasa.received == []


def test_a_web_chat_message_of_danger_gets_the_emergency_text_first_then_not_kept(no_database):
    resp = no_database.post("/api/webchat/messages", json={"text": "Am nevoie de ajutor",
                                                            "language": "ro"})
    assert resp.status_code == 503
    assert [(m["response"], m["text"]) for m in resp.json()["messages"]] == [
        (name, catalog_text(no_database, name, "ro"))
        for name in ("utter_emergency", "utter_unavailable_unsaved")]


def test_polling_and_delete_answer_503_with_112_not_500(no_database):
    headers = {"X-Conversation-Id": CONVERSATION, "Accept-Language": "pl"}
    polled = no_database.get("/api/webchat/conversation/messages", headers=headers)
    assert_emergency_in(no_database, polled, "pl")
    erased = no_database.delete("/api/webchat/conversation", headers=headers)
    assert_emergency_in(no_database, erased, "pl")
    assert "erased" in erased.json()["detail"]  # "nothing was ... erased": the page retries
    # The old paths too (pages loaded before the header form).
    old = no_database.get(f"/api/webchat/conversations/{CONVERSATION}/messages",
                          headers={"Accept-Language": "sv-SE,sv;q=0.9"})
    assert_emergency_in(no_database, old, "sv")
    assert no_database.delete(f"/api/webchat/conversations/{CONVERSATION}").status_code == 503


def test_an_sms_gets_112_and_no_promise_that_it_was_saved(no_database):
    params = inbound_params("+46701234567", "+46700000000", "vad är betänketid")
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/sms/twilio/inbound", params)
    resp = no_database.post("/sms/twilio/inbound", data=params,
                            headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 200
    [text] = [m.text for m in ET.fromstring(resp.text).findall("Message")]
    assert text == catalog_text(no_database, "utter_unavailable_unsaved", "en", "sms")
    assert "112" in text and "not be kept" in text
    assert "saved" not in text.lower()


def test_staff_get_a_console_page_saying_the_database_is_unreachable(no_database):
    signin = no_database.post("/console/login", data={"username": "anna", "password": "x" * 12})
    assert signin.status_code == 503
    assert signin.headers["content-type"].startswith("text/html")
    assert "Database unreachable" in signin.text
    # Signed in already: the session cannot be checked, the same page says why.
    no_database.cookies.set(auth.COOKIE, "s" * 43, path=auth.COOKIE_PATH)
    queue = no_database.get("/console", follow_redirects=False)
    assert queue.status_code == 503 and "Database unreachable" in queue.text


def test_the_page_without_javascript_keeps_the_text_and_shows_112(no_database):
    resp = no_database.post("/chat", data={"text": "hello", "lang": "en",
                                           "client_message_id": "c" * 22})
    assert resp.status_code == 503
    assert "112" in resp.text and "hello" in resp.text


def test_public_health_makes_no_call_and_details_need_the_token(no_database):
    started = time.monotonic()
    public = no_database.get("/healthz")
    assert (public.status_code, public.json()) == (200, {"status": "ok"})
    assert time.monotonic() - started < 1
    assert no_database.get("/internal/health").status_code == 401
    inside = no_database.get("/internal/health", headers={
        "Authorization": f"Bearer {STRONG_TEST_SECRETS['internal_token']}"})
    assert inside.status_code == 503 and inside.json()["database"] == "down"


# --- Rasa down ---------------------------------------------------------------------------
@pytest.fixture
def line(sqlite_url):
    upgrade_database(sqlite_url)

    def make(rasa: RasaClient, **overrides) -> TestClient:
        app = create_app(settings_for(sqlite_url, **overrides), rasa=rasa,
                         start_outbox_worker=False)
        return TestClient(app)
    return make


def say(client: TestClient, text: str = "what are my rights") -> tuple[dict, float]:
    started = time.monotonic()
    resp = client.post("/api/webchat/messages", json={"text": text, "language": "en"})
    assert resp.status_code == 200, resp.text
    return resp.json(), time.monotonic() - started


def test_rasa_on_a_closed_port_gives_the_fixed_answer_at_once(line):
    rasa = RasaClient(f"http://127.0.0.1:{closed_port()}", 8, "token")
    with line(rasa) as client:
        reply, took = say(client)
    assert [m["response"] for m in reply["messages"]] == ["utter_unavailable"]
    assert took < 2


def test_a_hanging_rasa_is_given_up_within_the_turns_budget(line):
    """Rasa accepts the connection and never answers (a stopped process): the HTTP client's
    own timeouts count per phase; the turn's deadline holds for the whole turn."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # the kernel completes connections; nobody ever reads or answers
    rasa = RasaClient(f"http://127.0.0.1:{listener.getsockname()[1]}", 30, "token")
    try:
        with line(rasa, rasa_timeout_seconds=1.5) as client:
            reply, took = say(client)
            assert [m["response"] for m in reply["messages"]] == ["utter_unavailable"]
            assert 0.5 < took < 1.5  # the whole request, within the budget
            # The breaker remembers: the next person does not wait at all.
            reply, took = say(client)
            assert [m["response"] for m in reply["messages"]] == ["utter_unavailable"]
            assert took < 0.5
    finally:
        listener.close()


class CountingRasa(FakeRasa):
    def __init__(self) -> None:
        super().__init__(reply="utter_greet")
        self.calls = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.calls += 1
        return super().handler(request)


def test_the_breaker_asks_rasa_again_after_its_time_and_closes_when_rasa_answers(line):
    rasa, now = CountingRasa(), [1000.0]
    rasa.is_down = True
    with line(rasa.client()) as client:
        client.app.state.turn_context.breaker = RasaBreaker(15, clock=lambda: now[0])
        say(client)
        say(client)
        assert rasa.calls == 1  # the second turn did not ask
        now[0] += 16
        rasa.is_down = False
        reply, _ = say(client)
        assert rasa.calls == 2 and reply["messages"][0]["response"] == "utter_greet"
        say(client)
        assert rasa.calls == 3  # closed again


def test_only_one_turn_probes_rasa_when_the_breakers_time_is_up():
    now = [0.0]
    breaker = RasaBreaker(10, clock=lambda: now[0])
    breaker.failed()
    assert not breaker.allow()
    now[0] = 11
    results = []
    threads = [threading.Thread(target=lambda: results.append(breaker.allow())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
