"""Issue 11, item 14: a message stored without a completed turn is answered, once: by a retry
of the same delivery (Twilio's MessageSid, the web chat's client_message_id) once the dead
turn's lease has expired, or by the sweep (through the outbox for SMS). SQLite and PostgreSQL.

The process dying mid-turn is played by an exception from Rasa's side between storing the
message and storing the answer: the turn ends there, its lease held, as after kill -9."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.config import Settings
from gateway.conversations.turn import MAX_TURN_ATTEMPTS, TurnSweeper, claim_turn
from gateway.db import Database, upgrade_database
from gateway.models import Message, OutboxMessage, utcnow
from gateway.sms.service import resume_hooks
from gateway.sms.simulator import inbound_params
from tests.unit.fakes import STRONG_TEST_SECRETS, FakeRasa

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://rightsline.example.org"
INBOUND = "/sms/twilio/inbound"
NUMBER = "+46701234567"
REPLY = "text of utter_reflection_period"


@dataclass
class CrashingRasa(FakeRasa):
    """Rasa's webhook 'kills the process' (raises mid-turn) while `crashes` > 0."""

    crashes: int = 0
    asked: int = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.asked += 1
            if self.crashes > 0:
                self.crashes -= 1
                raise RuntimeError("the process died here")
        return super().handler(request)


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # noqa: ANN204
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def line(database_url):
    upgrade_database(database_url)
    settings = Settings(database_url=database_url, environment="test", twilio_auth_token=TOKEN,
                        public_base_url=PUBLIC, detect_language=False, **STRONG_TEST_SECRETS)
    rasa = CrashingRasa(reply="utter_reflection_period")
    app = create_app(settings, rasa=rasa.client(), start_outbox_worker=False)
    clock = Clock()
    app.state.turn_context.clock = clock
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Line(client, app, Database(database_url), rasa, clock)


@dataclass
class Line:
    client: TestClient
    app: object
    db: Database
    rasa: CrashingRasa
    clock: Clock

    @property
    def lease(self) -> float:
        return self.app.state.turn_context.lease.total_seconds()

    def sms(self, sid: str, text: str = "vad är betänketid") -> httpx.Response:
        params = {**inbound_params(NUMBER, "+46700000000", text), "MessageSid": sid}
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{INBOUND}", params)
        return self.client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature})

    def chat(self, client_id: str, text: str = "what are my rights") -> httpx.Response:
        return self.client.post("/api/webchat/messages", json={
            "text": text, "language": "en", "client_message_id": client_id})

    def sweeper(self) -> TurnSweeper:
        return TurnSweeper(self.app.state.turn_context, {"sms": resume_hooks(self.app.state.sms)})

    def count(self, model, *where) -> int:  # noqa: ANN001
        with self.db.session() as s:
            return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

    def outbound(self) -> int:
        return self.count(Message, Message.direction == "outbound")

    def waiting(self) -> int:
        return self.count(Message, Message.awaiting_reply.is_(True))

    def outbox_bodies(self) -> list[str]:
        with self.db.session() as s:
            return list(s.scalars(sa.select(OutboxMessage.body)))


def twiml(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [m.text for m in ET.fromstring(resp.text).findall("Message")]


def test_an_sms_retry_resumes_the_interrupted_turn_once(line):
    line.rasa.crashes = 1
    assert line.sms("SM" + "1" * 32).status_code == 500  # the turn died after storing
    assert line.count(Message, Message.direction == "inbound") == 1
    assert (line.waiting(), line.outbound()) == (1, 0)

    # Twilio's retry while the dead turn's lease still holds: it may still be alive.
    assert twiml(line.sms("SM" + "1" * 32)) == []
    assert line.waiting() == 1

    line.clock.advance(line.lease + 1)
    assert twiml(line.sms("SM" + "1" * 32)) == [REPLY]  # the retry takes the turn over
    assert (line.waiting(), line.outbound()) == (0, 1)
    # Nothing is left for the sweep, and a later retry is a plain duplicate.
    line.clock.advance(line.lease + 1)
    assert line.sweeper().run_once() == 0
    assert twiml(line.sms("SM" + "1" * 32)) == []
    assert (line.outbound(), line.outbox_bodies(), line.rasa.asked) == (1, [], 2)


def test_the_sweep_answers_an_interrupted_sms_through_the_outbox_once(line):
    line.rasa.crashes = 1
    assert line.sms("SM" + "2" * 32).status_code == 500
    sweeper, other_replica = line.sweeper(), line.sweeper()
    assert sweeper.run_once() == 0  # the lease is still held
    line.clock.advance(line.lease + 1)
    assert sweeper.run_once() == 1
    assert other_replica.run_once() == 0
    assert line.outbox_bodies() == [REPLY]
    assert (line.waiting(), line.outbound()) == (0, 1)
    assert twiml(line.sms("SM" + "2" * 32)) == []  # Twilio's late retry: answered already
    assert line.outbox_bodies() == [REPLY]


def test_a_turn_is_claimed_by_one_replica_only(line):
    line.rasa.crashes = 1
    line.sms("SM" + "3" * 32)
    with line.db.session() as s:
        message_id = s.scalar(sa.select(Message.id))
    ctx = line.app.state.turn_context
    line.clock.advance(line.lease + 1)
    assert claim_turn(ctx, message_id) is not None
    assert claim_turn(ctx, message_id) is None


def test_a_turn_that_keeps_failing_gets_the_fixed_answer_with_112(line):
    line.rasa.crashes = 100
    line.sms("SM" + "4" * 32)
    sweeper = line.sweeper()
    for _ in range(MAX_TURN_ATTEMPTS - 1):
        line.clock.advance(line.lease + 1)
        assert sweeper.run_once() == 1  # claimed, and died again
        assert line.outbox_bodies() == []
    line.clock.advance(line.lease + 1)
    asked = line.rasa.asked
    assert sweeper.run_once() == 1
    [body] = line.outbox_bodies()
    assert "112" in body and line.rasa.asked == asked  # without asking Rasa again
    assert line.waiting() == 0


def test_a_stale_interrupted_turn_is_released_not_answered_hours_later(line):
    line.rasa.crashes = 1
    line.sms("SM" + "5" * 32)
    line.clock.advance(2 * 3600)
    assert line.sweeper().run_once() == 0
    assert (line.waiting(), line.outbox_bodies()) == (0, [])


def test_a_web_chat_retry_resumes_the_interrupted_turn_once(line):
    client_id = "c" * 22
    line.rasa.crashes = 1
    assert line.chat(client_id).status_code == 500
    line.clock.advance(line.lease + 1)
    again = line.chat(client_id)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert [m["text"] for m in again.json()["messages"]] == [REPLY]
    assert line.sweeper().run_once() == 0
    assert [m["text"] for m in line.chat(client_id).json()["messages"]] == [REPLY]
    assert (line.outbound(), line.rasa.asked) == (1, 2)


def test_the_sweep_answers_an_interrupted_web_chat_turn_for_the_page_to_poll(line):
    client_id = "d" * 22
    line.rasa.crashes = 1
    assert line.chat(client_id).status_code == 500
    with line.db.session() as s:
        conversation_id = s.scalar(sa.select(Message.conversation_id))
    line.clock.advance(line.lease + 1)
    assert line.sweeper().run_once() == 1
    polled = line.client.get("/api/webchat/conversation/messages",
                             headers={"X-Conversation-Id": conversation_id})
    assert [m["text"] for m in polled.json()["messages"]] == [REPLY]
    assert line.chat(client_id).json()["messages"][0]["text"] == REPLY
    assert (line.outbound(), line.rasa.asked, line.outbox_bodies()) == (1, 2, [])


def test_migration_0010_goes_down_and_up_again(database_url):
    from alembic import command

    from gateway.db import alembic_config

    upgrade_database(database_url)
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0009")
    engine = sa.create_engine(Database(database_url).url)
    assert "awaiting_reply" not in {c["name"] for c in sa.inspect(engine).get_columns("message")}
    command.upgrade(cfg, "head")
    assert {"awaiting_reply", "turn_claim_token", "turn_claimed_until", "turn_attempts"} <= {
        c["name"] for c in sa.inspect(engine).get_columns("message")}
    engine.dispose()


def test_the_gateway_sweeps_when_it_starts(sqlite_url):
    """What a killed gateway left behind is answered by the next one to start (any replica)."""
    upgrade_database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test", twilio_auth_token=TOKEN,
                        public_base_url=PUBLIC, detect_language=False, turn_sweep_seconds=0.05,
                        outbox_poll_seconds=60, **STRONG_TEST_SECRETS)
    rasa = CrashingRasa(reply="utter_reflection_period", crashes=1)
    first = create_app(settings, rasa=rasa.client(), start_outbox_worker=False)
    with TestClient(first, raise_server_exceptions=False) as client:
        params = {**inbound_params(NUMBER, "+46700000000", "hej"), "MessageSid": "SM" + "6" * 32}
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{INBOUND}", params)
        assert client.post(INBOUND, data=params,
                           headers={"X-Twilio-Signature": signature}).status_code == 500
    db = Database(sqlite_url)
    with db.session() as s:  # the dead process's lease has run out
        s.execute(sa.update(Message).values(turn_claimed_until=utcnow() - timedelta(seconds=1)))
    second = create_app(settings, rasa=rasa.client(), start_outbox_worker=True)
    with TestClient(second):
        deadline = utcnow() + timedelta(seconds=20)
        while utcnow() < deadline:
            with db.session() as s:
                bodies = list(s.scalars(sa.select(OutboxMessage.body)))
            if bodies:
                break
            threading.Event().wait(0.05)
    assert bodies == [REPLY]


def test_the_page_without_javascript_resumes_an_interrupted_turn_when_the_form_comes_again(line):
    form = {"text": "what are my rights", "lang": "en", "client_message_id": "e" * 22}
    line.rasa.crashes = 1
    assert line.client.post("/chat", data=form).status_code == 500
    line.clock.advance(line.lease + 1)
    page = line.client.post("/chat", data=form)
    assert page.status_code == 200 and REPLY in page.text
    assert line.client.post("/chat", data=form).text.count(REPLY) == 1
    assert (line.outbound(), line.rasa.asked) == (1, 2)
