"""Erasure with the production tracker stores: the real Rasa server on Redis (127.0.0.1:6379,
this module's own key prefix, removed afterwards; bot/endpoints.redis.yml) and on PostgreSQL
(127.0.0.1:5432, a database of its own, dropped afterwards; bot/endpoints.sql.yml), the
gateway answering signed SMS webhooks, and a fake Twilio API that lists and redacts (issue 11,
items 5 and 7). Lines of their own: their Rasa uses Redis / SQL, the session line's memory.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET

import httpx
import pytest
import sqlalchemy as sa

from gateway.db import Database
from gateway.models import Conversation, OutboxMessage, PendingErasure, utcnow
from gateway.messaging.vault import NumberVault
from gateway.sms.simulator import inbound_params, signed_post
from scripts.stack import LOOPBACK_TWILIO_TOKEN, Stack, loopback_settings
from tests.support.fake_twilio import FakeTwilio

OUR_NUMBER = "+46700000000"


def wait_for(check, timeout: float = 30, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=0, decode_responses=True)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis server answers on 127.0.0.1:6379")
    yield client
    client.close()


class RedisTrackers:
    def __init__(self, client, prefix: str) -> None:  # noqa: ANN001
        self.client, self.prefix = client, prefix

    def env(self) -> dict[str, str]:
        return {"RIGHTSLINE_RASA_REDIS_HOST": "127.0.0.1", "RIGHTSLINE_RASA_REDIS_PORT": "6379",
                "RIGHTSLINE_RASA_REDIS_DB": "0", "RIGHTSLINE_RASA_REDIS_PASSWORD": "",
                "RIGHTSLINE_RASA_REDIS_KEY_PREFIX": self.prefix,
                "RIGHTSLINE_RASA_TRACKER_EXPIRY_SECONDS": "3600"}

    def stored(self, conversation: str) -> str | None:
        """The tracker as stored (None: no key at all)."""
        return self.client.get(f"{self.prefix}:tracker:{conversation}")

    def everything(self) -> str:
        return "\n".join(self.client.get(k) or "" for k in self.client.scan_iter(f"{self.prefix}:*")
                         if self.client.type(k) == "string")

    def clean(self) -> None:
        for key in self.client.scan_iter(f"{self.prefix}:*"):
            self.client.delete(key)


class SqlTrackers:
    ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

    def __init__(self) -> None:
        self.name = "rasa_trackers_" + uuid.uuid4().hex[:10]
        self.admin = sa.create_engine(self.ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        self.engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}")

    def env(self) -> dict[str, str]:
        return {"RIGHTSLINE_RASA_SQL_HOST": "127.0.0.1", "RIGHTSLINE_RASA_SQL_PORT": "5432",
                "RIGHTSLINE_RASA_SQL_DB": self.name, "RIGHTSLINE_RASA_SQL_USERNAME": "postgres",
                "RIGHTSLINE_RASA_SQL_PASSWORD": ""}

    def stored(self, conversation: str) -> str | None:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                                {"s": conversation}).scalars().all()
        return "\n".join(rows) if rows else None

    def everything(self) -> str:
        with self.engine.connect() as conn:
            return "\n".join(conn.execute(sa.text("SELECT data FROM events")).scalars().all())

    def clean(self) -> None:
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def _postgres_answers() -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module", params=["redis", "sql"])
def line(request, tmp_path_factory):
    if request.param == "redis":
        trackers = RedisTrackers(request.getfixturevalue("redis_client"),
                                 "rle2e" + uuid.uuid4().hex[:10])
    else:
        if not _postgres_answers():
            pytest.skip("no PostgreSQL server answers on 127.0.0.1:5432")
        trackers = SqlTrackers()
    tmp = tmp_path_factory.mktemp(f"{request.param}-line")
    with FakeTwilio() as twilio:
        settings = loopback_settings(
            tmp, rasa_timeout_seconds=10, twilio_account_sid="AC" + "e2e1" * 8,
            twilio_from_number=OUR_NUMBER, twilio_api_base_url=twilio.base_url,
            outbox_poll_seconds=0.2,
            sms_reply_budget_seconds=0.01,  # every reply through the outbox: Twilio SIDs
        )
        stack = Stack(settings=settings, log_dir=tmp / "log",
                      endpoints=f"bot/endpoints.{request.param}.yml", extra_env=trackers.env())
        stack.trackers, stack.twilio = trackers, twilio
        stack.db = Database(settings.database_url)
        try:
            stack.start(timeout=420)
            yield stack
        finally:
            stack.stop()
            stack.db.dispose()
            trackers.clean()


def sms(line, client: httpx.Client, sender: str, text: str) -> tuple[str, int]:
    params = inbound_params(sender, OUR_NUMBER, text)
    url = f"{line.settings.public_base_url}/sms/twilio/inbound"
    resp = signed_post(client, url, params, LOOPBACK_TWILIO_TOKEN)
    assert resp.status_code == 200, resp.text
    return params["MessageSid"], len(list(ET.fromstring(resp.text).iter("Message")))


def conversation_of(line, sender: str) -> str | None:
    s = line.settings
    vault = NumberVault(s.sender_hash_key.get_secret_value(), s.encryption_key.get_secret_value())
    with line.db.session() as session:
        return session.scalar(sa.select(Conversation.id).where(
            Conversation.sender_hash == vault.sender_hash(sender)))


def pending(line) -> int:
    with line.db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(PendingErasure))


def test_sms_delete_erases_the_tracker_and_redacts_every_body_at_twilio(line):
    sender = "+4670" + str(uuid.uuid4().int)[:7]
    words = f"zqx{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=line.settings.gateway_url, timeout=30) as client:
        first_sid, _ = sms(line, client, sender, f"What is the reflection period? {words}")
        # Twilio keeps what the person sent (this fake learns it here) and every reply.
        line.twilio.add_message(sid=first_sid, to=OUR_NUMBER, from_=sender, body=words)
        conversation = wait_for(lambda: conversation_of(line, sender), what="the conversation")
        # Rasa keeps the tracker, the person's words in it, in Redis / PostgreSQL; the reply
        # went out through Twilio's REST API (the outbox), so Twilio holds both bodies.
        wait_for(lambda: words in (line.trackers.stored(conversation) or ""),
                 what="the tracker in the store")
        replies = wait_for(lambda: [m["sid"] for m in line.twilio.created if m["To"] == sender],
                           what="the reply through Twilio")
        wait_for(lambda: _outbox_sids(line, conversation) >= set(replies), what="the reply's SID")

        delete_sid, _ = sms(line, client, sender, "DELETE")

    wait_for(lambda: conversation_of(line, sender) is None, what="the conversation's deletion")
    # The worker erases the tracker (the Redis key, not a merged copy; every SQL row) and
    # redacts the person's messages and the replies at Twilio, then forgets the queue.
    wait_for(lambda: pending(line) == 0, what="the erasure queue to empty")
    assert line.trackers.stored(conversation) is None
    assert words not in line.trackers.everything()
    assert {first_sid, *replies} <= set(line.twilio.redacted)
    assert line.twilio.bodies_with(sender) == []


def _outbox_sids(line, conversation: str) -> set[str]:
    with line.db.session() as s:
        return set(s.scalars(sa.select(OutboxMessage.twilio_sid).where(
            OutboxMessage.conversation_id == conversation,
            OutboxMessage.twilio_sid.is_not(None))).all())


def test_an_erasure_rasa_cannot_confirm_stays_queued_and_is_done_once_rasa_is_back(line):
    """Rasa down at DELETE: the tracker stays in the store, the erasure stays queued (nothing
    orphaned) and is retried; once Rasa is back the tracker is deleted and the queue empties."""
    with httpx.Client(base_url=line.settings.gateway_url, timeout=30) as client:
        reply = client.post("/api/webchat/messages", json={"text": "What is the reflection period?"})
        conversation = reply.json()["conversation_id"]
        assert line.trackers.stored(conversation) is not None
        line.stop_one("rasa")
        erased = client.post("/api/webchat/messages",
                             json={"text": "DELETE", "conversation_id": conversation})
        assert erased.status_code == 200 and erased.json()["conversation_id"] is None

        def tried_and_failed() -> bool:
            with line.db.session() as s:
                row = s.scalar(sa.select(PendingErasure).where(PendingErasure.target == conversation))
                return row is not None and row.attempts >= 1

        wait_for(tried_and_failed, what="a failed attempt")
        assert line.trackers.stored(conversation) is not None  # not erased yet
        line.start_rasa()
        wait_for(line.rasa_is_up, timeout=300, what="Rasa to start again")
        with line.db.session() as s:  # the backoff has run its course (no waiting for it)
            s.execute(sa.update(PendingErasure).values(next_attempt_at=utcnow()))
        wait_for(lambda: pending(line) == 0, timeout=60, what="the retried erasure")
    assert line.trackers.stored(conversation) is None
