"""Erasure that reaches every copy (issue 11, items 5, 6 and 7).

- Rasa's tracker stores (bot/stores.py) against the real Redis and PostgreSQL on this machine,
  through Rasa's own FailSafeTrackerStore wrapper, run under .venv-rasa.
- The durable erasure queue (gateway/erasure.py) on SQLite and PostgreSQL, with an injected
  clock: a failed erasure stays queued and is retried with backoff until it succeeds.
- Twilio redaction through the real twilio library against the fake Twilio API.
- Retention re-checks activity at delete time; the outbox forgets bodies it is done with.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from gateway import erasure, retention
from gateway.bot.client import TRACKER_ERASED_MARKER, RasaClient
from gateway.config import REPO_ROOT, Settings
from gateway.conversations import service
from gateway.db import Database, upgrade_database
from gateway.erasure import ErasureWorker, TwilioRedactor
from gateway.models import Conversation, OutboxMessage, PendingErasure
from gateway.messaging.outbox import OutboxWorker, purge_done_bodies
from gateway.messaging.vault import NumberVault
from gateway.messaging.sender import SimulatedSender
from tests.support.fake_twilio import FakeTwilio

RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# --- Rasa's tracker stores, real Redis and PostgreSQL -------------------------------------
def run_store(config: dict) -> dict:
    if not RASA_PYTHON.exists():
        pytest.skip("no .venv-rasa (make venv)")
    out = subprocess.run([str(RASA_PYTHON), "-m", "tests.support.rasa_store_check",
                          json.dumps(config)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def redis_config(store: str, port: int = 6379) -> dict:
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2).ping()
    except Exception:  # noqa: BLE001
        pytest.skip("no Redis server answers on 127.0.0.1:6379")
    return {"store": store, "backend": "redis",
            "kwargs": {"host": "127.0.0.1", "port": str(port), "db": "0", "password": "",
                       "key_prefix": "rltest" + uuid.uuid4().hex[:12], "record_exp": "3600"}}


def sql_config(store: str, url: str) -> dict:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    return {"store": store, "backend": "sql",
            "kwargs": {"dialect": "postgresql", "host": parts.hostname, "port": str(parts.port),
                       "db": parts.path.lstrip("/"), "username": parts.username, "password": ""}}


def marker_text() -> str:
    return f"zqx{uuid.uuid4().hex[:10]} they took my passport"


@pytest.fixture(params=["redis", "sql"])
def backend(request):
    if request.param == "redis":
        return lambda store: redis_config(store)
    url = request.getfixturevalue("postgres_url")
    return lambda store: sql_config(store, url)


def test_rasas_stock_redis_and_sql_stores_keep_a_replaced_tracker(backend):
    """Why bot/stores.py exists: replacing the events is no erasure in Rasa's own stores."""
    store = {"redis": "rasa.core.tracker_store.RedisTrackerStore",
             "sql": "rasa.core.tracker_store.SQLTrackerStore"}
    config = backend("x")
    config["store"] = store[config["backend"]]
    text = marker_text()
    result = run_store({**config, "sender": uuid.uuid4().hex, "text": text})
    assert text in result["before"]
    assert text in result["after"]  # Redis merged the old events back; SQL only appends
    assert TRACKER_ERASED_MARKER not in result["answer_events"]


def test_the_erasable_stores_delete_the_tracker_and_confirm_it(backend):
    config = backend("bot.stores.Erasable" + "X")
    config["store"] = {"redis": "bot.stores.ErasableRedisTrackerStore",
                       "sql": "bot.stores.ErasableSQLTrackerStore"}[config["backend"]]
    text = marker_text()
    result = run_store({**config, "sender": uuid.uuid4().hex, "text": text})
    assert text in result["before"]
    assert result["after"] == ""  # the key / every row is gone
    if config["backend"] == "redis":
        assert result["ttl_after"] == -2  # no key left at all
    assert result["answer_events"] == ["rightsline_erase_tracker", TRACKER_ERASED_MARKER]
    assert result["fresh_events"] == []  # a new conversation's empty tracker is no erasure


def test_the_in_memory_store_erases_too():
    text = marker_text()
    result = run_store({"store": "bot.stores.ErasableInMemoryTrackerStore", "backend": "memory",
                        "kwargs": {}, "sender": uuid.uuid4().hex, "text": text})
    assert text in result["before"] and result["after"] == ""
    assert TRACKER_ERASED_MARKER in result["answer_events"]


def test_a_store_that_cannot_erase_does_not_confirm():
    """Rasa answers 200 even then (it falls back to memory): only the marker tells."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    config = redis_config("bot.stores.ErasableRedisTrackerStore", port=closed_port)
    result = run_store({**config, "sender": uuid.uuid4().hex, "text": marker_text(),
                        "is_down": True})
    assert result["answer_events"] == ["rightsline_erase_tracker"]


# --- the gateway's side: Rasa's answer, the durable queue ---------------------------------
class Rasa:
    """Rasa's PUT /conversations/<id>/tracker/events as the server answers it."""

    def __init__(self) -> None:
        self.mode = "erasable"  # erasable | stock | down
        self.erased: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("refused", request=request)
        assert request.method == "PUT" and request.url.path.endswith("/tracker/events")
        assert request.url.params["include_events"] == "ALL"
        events = json.loads(request.content)
        assert events == [{"event": "action", "name": "rightsline_erase_tracker"}]
        if self.mode == "erasable":
            self.erased.append(request.url.path.split("/")[2])
            events = events + [{"event": "action", "name": TRACKER_ERASED_MARKER}]
        return httpx.Response(200, json={"sender_id": "x", "events": events})

    def client(self) -> RasaClient:
        return RasaClient("http://rasa.test", 5, "token", transport=httpx.MockTransport(self.handler))


def test_rasa_client_counts_an_erasure_only_when_the_store_confirms_it():
    rasa = Rasa()
    client = rasa.client()
    assert client.erase("conv-1") is True
    rasa.mode = "stock"  # Rasa's own store: 200, the events echoed, nothing deleted
    assert client.erase("conv-1") is False
    rasa.mode = "down"
    assert client.erase("conv-1") is False


@pytest.fixture
def db(database_url):
    upgrade_database(database_url)
    database = Database(database_url)
    yield database
    database.dispose()


PERSON, OURS = "+46701112233", "+46700000000"
VAULT = NumberVault("hash-key", Settings().encryption_key.get_secret_value())


def sms_conversation(s, *, inbound_sids=("SMin1",), outbox=(("SMout1", "sent"),)) -> str:
    conversation = service.open_conversation(s, channel="sms")
    conversation.sender_encrypted = VAULT.encrypt(PERSON)
    conversation.service_number = OURS
    for i, sid in enumerate(inbound_sids):
        service.record_message(s, conversation, direction="inbound", text=f"secret {i}",
                               language="en", channel_message_id=sid)
    service.record_message(s, conversation, direction="outbound", text="reply", language="en")
    for sid, status in outbox:
        s.add(OutboxMessage(conversation_id=conversation.id, to_encrypted="x", body="reply",
                            twilio_sid=sid, status=status))
    s.flush()
    return conversation.id


def pending(db) -> list[tuple[str, str]]:
    with db.session() as s:
        return sorted((k, t) for k, t in s.execute(
            sa.select(PendingErasure.kind, PendingErasure.target)))


def test_deleting_queues_rasa_and_every_twilio_copy_in_the_same_transaction(db):
    with db.session() as s:
        conv = sms_conversation(s, inbound_sids=("SMin1", "SMin2"),
                                outbox=(("SMout1", "delivered"), ("SIMabc", "simulated")))
        web = service.open_conversation(s, channel="webchat")
        service.record_message(s, web, direction="inbound", text="hi", language="en",
                               channel_message_id="client-id-1")  # not a Twilio SID
        web_id = web.id
    with db.session() as s:
        assert service.delete_conversation(s, conv)
        assert service.delete_conversation(s, web_id)
    assert pending(db) == sorted([("rasa_tracker", conv), ("rasa_tracker", web_id),
                                  ("twilio_message", "SMin1"), ("twilio_message", "SMin2"),
                                  ("twilio_message", "SMout1"), ("twilio_number", conv)])
    with db.session() as s:  # and the outbox rows that held the SIDs are gone
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
        # the number is in the queue only as it was stored: encrypted
        secret = s.scalar(sa.select(PendingErasure.secret).where(PendingErasure.kind == "twilio_number"))
        assert PERSON not in secret and VAULT.decrypt(json.loads(secret)["number"]) == PERSON


def test_a_failed_deletion_queues_nothing(db):
    with db.session() as s:
        conv = sms_conversation(s)
    with pytest.raises(RuntimeError), db.session() as s:
        assert service.delete_conversation(s, conv)
        raise RuntimeError("the transaction fails after the deletion")
    assert pending(db) == []
    with db.session() as s:
        assert s.get(Conversation, conv) is not None


def test_a_failed_rasa_erasure_is_retried_with_backoff_until_it_succeeds(db):
    rasa, clock = Rasa(), Clock(T0)
    with db.session() as s:
        conv = sms_conversation(s, inbound_sids=(), outbox=())
    with db.session() as s:
        service.delete_conversation(s, conv)
    with db.session() as s:  # queued at T0 (the test's clock, not the wall clock)
        s.execute(sa.update(PendingErasure).values(next_attempt_at=T0))
        s.execute(sa.delete(PendingErasure).where(PendingErasure.kind != "rasa_tracker"))
    worker = ErasureWorker(db=db, rasa=rasa.client(), redactor=erasure.NothingToRedact(),
                           clock=clock)
    rasa.mode = "down"
    assert worker.run_once() == 1
    rasa.mode = "stock"  # answers 200 but did not erase: still not done
    assert worker.run_once() == 0  # not due before the backoff
    clock.now += erasure.backoff(1)
    assert worker.run_once() == 1
    with db.session() as s:
        row = s.scalar(sa.select(PendingErasure))
        assert (row.attempts, row.last_error) == (2, "rasa did not confirm")
        assert row.next_attempt_at.replace(tzinfo=UTC) == clock.now + erasure.backoff(2)
    rasa.mode = "erasable"
    clock.now += erasure.backoff(2)
    assert worker.run_once() == 1
    assert rasa.erased == [conv]
    assert pending(db) == []


def test_backoff_grows_and_is_capped_at_an_hour():
    assert erasure.backoff(1) < erasure.backoff(2) < erasure.backoff(5)
    assert erasure.backoff(50) == timedelta(hours=1)


def test_twilio_bodies_are_redacted_through_the_real_twilio_client_with_retries(db):
    clock = Clock(T0)
    with FakeTwilio() as twilio:
        with db.session() as s:
            conv = sms_conversation(s, inbound_sids=("SMin1", "SMgone"),
                                    outbox=(("SMout1", "delivered"),))
        # What Twilio holds: the person's messages, the reply sent through the REST API, and
        # a reply it sent from the webhook's TwiML answer (a SID the line never saw); another
        # person's message stays as it is.
        twilio.add_message(sid="SMin1", to=OURS, from_=PERSON, body="they took my passport")
        twilio.add_message(sid="SMout1", to=PERSON, from_=OURS, body="a reply")
        twiml_reply = twilio.add_message(to=PERSON, from_=OURS, body="the TwiML reply")
        other = twilio.add_message(to=OURS, from_="+46705550000", body="someone else")
        with db.session() as s:
            service.delete_conversation(s, conv)
            s.execute(sa.update(PendingErasure).values(next_attempt_at=T0))
            s.execute(sa.delete(PendingErasure).where(PendingErasure.kind == "rasa_tracker"))
        twilio.missing.add("SMgone")  # Twilio no longer has it: nothing to redact
        twilio.fail_next = [500]  # the first call fails
        redactor = TwilioRedactor(account_sid="AC" + "0" * 32, auth_token="t",
                                  api_base_url=twilio.base_url)
        worker = ErasureWorker(db=db, rasa=Rasa().client(), redactor=redactor, vault=VAULT,
                               clock=clock)
        assert worker.run_once() == 4
        assert len(pending(db)) == 1  # the one that got the 500
        clock.now += erasure.backoff(1)
        assert worker.run_once() == 1
        assert pending(db) == []
        assert twilio.bodies_with(PERSON) == []
        assert {"SMin1", "SMout1", twiml_reply} <= set(twilio.redacted)
        assert other not in twilio.redacted


# --- retention re-checks activity at delete time ------------------------------------------
def test_retention_keeps_a_conversation_that_became_active_after_the_list_was_read(db, monkeypatch):
    rasa = Rasa()
    with db.session() as s:
        busy = service.open_conversation(s, channel="webchat")
        idle = service.open_conversation(s, channel="webchat")
        busy.last_activity_at = idle.last_activity_at = datetime.now(UTC) - timedelta(days=40)
        busy_id, idle_id = busy.id, idle.id
    listed = retention.idle_conversation_ids

    def list_then_a_message_arrives(database, cutoff):
        ids = listed(database, cutoff)
        with database.session() as s:  # the person writes right after the list was read
            service.record_message(s, service.get_conversation(s, busy_id), direction="inbound",
                                   text="I am back", language="en")
        return ids

    monkeypatch.setattr(retention, "idle_conversation_ids", list_then_a_message_arrives)
    assert retention.purge_idle_conversations(db, rasa.client(), older_than=timedelta(days=30)) == 1
    with db.session() as s:
        assert s.scalars(sa.select(Conversation.id)).all() == [busy_id]
    assert rasa.erased == [idle_id]
    assert pending(db) == [("rasa_tracker", idle_id)]


# --- the outbox forgets what it is done with --------------------------------------------
def test_done_outbox_rows_lose_body_and_number_on_a_schedule(db):
    with db.session() as s:
        conv = service.open_conversation(s, channel="sms").id
        rows = {status: OutboxMessage(conversation_id=None if status == "simulated" else conv,
                                      to_encrypted="enc", body=f"words {status}", status=status)
                for status in ("pending", "sending", "sent", "delivered", "failed", "dead",
                               "simulated")}
        s.add_all(rows.values())
    clock = Clock(datetime.now(UTC))
    worker = OutboxWorker(db=db, sender=SimulatedSender(), vault=None, status_callback_url=None,
                          clock=clock, body_retention=timedelta(minutes=15))
    with db.session() as s:  # nothing is due to be sent now (no send would be tried)
        s.execute(sa.update(OutboxMessage).values(next_attempt_at=clock.now + timedelta(days=9)))

    def bodies() -> dict[str, tuple[str, str]]:
        with db.session() as s:
            return {r.status: (r.body, r.to_encrypted) for r in s.scalars(sa.select(OutboxMessage))}

    worker.run_once()  # just done: kept for now (the simulator and status callbacks read them)
    assert all(body for body, _ in bodies().values())
    clock.now += timedelta(minutes=16)
    worker.run_once()
    after = bodies()
    assert after["pending"] == ("words pending", "enc") and after["sending"] == ("words sending", "enc")
    for status in ("sent", "delivered", "failed", "dead", "simulated"):
        assert after[status] == ("", ""), status
    with db.session() as s:  # the purge runs at most once a minute and finds nothing new
        assert purge_done_bodies(s, now=clock.now, older_than=timedelta(minutes=15)) == 0


# --- after DELETE nothing keeps paging, and the audit log holds nothing personal ----------
from tests.unit.test_escalation import FALLBACK, PRIMARY, T0 as ESC_T0  # noqa: E402
from tests.unit.test_escalation import Clock as EscClock  # noqa: E402
from tests.unit.test_escalation import env as esc_env  # noqa: E402, F401  (fixture)
from tests.unit.test_escalation import escalations, pages  # noqa: E402


def test_delete_through_the_turn_stops_the_rota_worker_and_audits_nothing_personal(esc_env):
    from gateway.conversations.turn import erase_conversation
    from gateway.escalation.models import AuditEvent
    from gateway.escalation.service import request_escalation

    db, vault = esc_env
    clock = EscClock(ESC_T0)
    worker = escalations(db, vault, clock, fallback=FALLBACK)
    words = "they keep my passport at Storgatan 5"
    with db.session() as s:
        conversation = service.open_conversation(s, channel="sms")
        conversation.sender_encrypted = vault.encrypt("+46709999999")
        service.record_message(s, conversation, direction="inbound", text=words, language="en",
                               channel_message_id="SMperson1")
        conv = conversation.id
        request_escalation(s, conversation_id=conv, region_code="vast", urgency="danger",
                           reason="emergency_danger", may_contact=True, now=clock())
    worker.run_due_steps()  # the primary is paged
    rasa = Rasa()

    class Ctx:  # what erase_conversation uses of the TurnContext
        pass

    ctx = Ctx()
    ctx.db, ctx.rasa = db, rasa.client()
    erase_conversation(ctx, conv)
    for _ in range(4):  # well past the backup's and the fallback's times
        clock.now += timedelta(minutes=15)
        assert worker.run_due_steps() == 0
    assert pages(db, vault) == [PRIMARY]
    with db.session() as s:
        audit = [(a.actor, a.action, a.detail or "") for a in s.scalars(sa.select(AuditEvent))]
    assert ("person", "erased", "") in audit
    for actor, action, detail in audit:
        text = f"{actor} {action} {detail}"
        assert conv not in text and "passport" not in text and "4670" not in text
    assert pending(db) == [("rasa_tracker", conv), ("twilio_message", "SMperson1"),
                           ("twilio_number", conv)]
