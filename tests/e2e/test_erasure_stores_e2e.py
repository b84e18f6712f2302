"""Erasure with the production tracker store: the real Rasa server on Redis (127.0.0.1:6379,
this module's own key prefix, removed afterwards; bot/endpoints.redis.yml), the gateway
answering signed SMS webhooks, and a fake Twilio API that records redactions (issue 11,
items 5 and 7). A line of its own: its Rasa must use Redis, the session line's keeps memory.
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
from gateway.sms.privacy import NumberVault
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


@pytest.fixture(scope="module")
def line(tmp_path_factory, redis_client):
    tmp = tmp_path_factory.mktemp("redis-line")
    prefix = "rle2e" + uuid.uuid4().hex[:10]
    with FakeTwilio() as twilio:
        settings = loopback_settings(
            tmp, rasa_timeout_seconds=10, twilio_account_sid="AC" + "e2e1" * 8,
            twilio_from_number=OUR_NUMBER, twilio_api_base_url=twilio.base_url,
            outbox_poll_seconds=0.2,
            sms_reply_budget_seconds=0.01,  # every reply through the outbox: Twilio SIDs
        )
        stack = Stack(settings=settings, log_dir=tmp / "log", endpoints="bot/endpoints.redis.yml",
                      extra_env={
                          "RIGHTSLINE_RASA_REDIS_HOST": "127.0.0.1",
                          "RIGHTSLINE_RASA_REDIS_PORT": "6379",
                          "RIGHTSLINE_RASA_REDIS_DB": "0",
                          "RIGHTSLINE_RASA_REDIS_PASSWORD": "",
                          "RIGHTSLINE_RASA_REDIS_KEY_PREFIX": prefix,
                          "RIGHTSLINE_RASA_TRACKER_EXPIRY_SECONDS": "3600",
                      })
        stack.prefix, stack.twilio = prefix, twilio
        stack.db = Database(settings.database_url)
        try:
            stack.start(timeout=420)
            yield stack
        finally:
            stack.stop()
            stack.db.dispose()
            for key in redis_client.scan_iter(f"{prefix}:*"):
                redis_client.delete(key)


def tracker_key(line, conversation_id: str) -> str:
    return f"{line.prefix}:tracker:{conversation_id}"


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


def test_sms_delete_erases_the_redis_tracker_and_redacts_every_body_at_twilio(line, redis_client):
    sender = "+4670" + str(uuid.uuid4().int)[:7]
    words = f"zqx{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=line.settings.gateway_url, timeout=30) as client:
        first_sid, _ = sms(line, client, sender, f"What is the reflection period? {words}")
        # Twilio keeps what the person sent (this fake learns it here) and every reply.
        line.twilio.add_message(sid=first_sid, to=OUR_NUMBER, from_=sender, body=words)
        conversation = wait_for(lambda: conversation_of(line, sender), what="the conversation")
        # Rasa keeps the tracker, the person's words in it, in Redis; the reply went out
        # through Twilio's REST API (the outbox), so Twilio holds both bodies.
        wait_for(lambda: words in (redis_client.get(tracker_key(line, conversation)) or ""),
                 what="the tracker in Redis")
        replies = wait_for(lambda: [m["sid"] for m in line.twilio.created if m["To"] == sender],
                           what="the reply through Twilio")
        wait_for(lambda: _outbox_sids(line, conversation) >= set(replies), what="the reply's SID")

        delete_sid, _ = sms(line, client, sender, "DELETE")

    wait_for(lambda: conversation_of(line, sender) is None, what="the conversation's deletion")
    # The worker erases the tracker in Redis (the key, not a merged copy) and redacts the
    # person's messages and the replies at Twilio, then forgets the queue.
    wait_for(lambda: pending(line) == 0, what="the erasure queue to empty")
    assert redis_client.exists(tracker_key(line, conversation)) == 0
    for key in redis_client.scan_iter(f"{line.prefix}:*"):
        value = redis_client.get(key) if redis_client.type(key) == "string" else ""
        assert words not in (value or ""), key
    assert {first_sid, *replies} <= set(line.twilio.redacted)
    assert line.twilio.bodies_with(sender) == []


def _outbox_sids(line, conversation: str) -> set[str]:
    with line.db.session() as s:
        return set(s.scalars(sa.select(OutboxMessage.twilio_sid).where(
            OutboxMessage.conversation_id == conversation,
            OutboxMessage.twilio_sid.is_not(None))).all())


def test_an_erasure_rasa_cannot_confirm_stays_queued_and_is_done_once_rasa_is_back(
        line, redis_client):
    """Rasa down at DELETE: the tracker stays in Redis, the erasure stays queued (nothing
    orphaned) and is retried; once Rasa is back the key is deleted and the queue empties."""
    with httpx.Client(base_url=line.settings.gateway_url, timeout=30) as client:
        reply = client.post("/api/webchat/messages", json={"text": "What is the reflection period?"})
        conversation = reply.json()["conversation_id"]
        assert redis_client.exists(tracker_key(line, conversation)) == 1
        line.stop_one("rasa")
        erased = client.post("/api/webchat/messages",
                             json={"text": "DELETE", "conversation_id": conversation})
        assert erased.status_code == 200 and erased.json()["conversation_id"] is None

        def tried_and_failed() -> bool:
            with line.db.session() as s:
                row = s.scalar(sa.select(PendingErasure).where(PendingErasure.target == conversation))
                return row is not None and row.attempts >= 1

        wait_for(tried_and_failed, what="a failed attempt")
        assert redis_client.exists(tracker_key(line, conversation)) == 1  # not erased yet
        line.start_rasa()
        wait_for(line.rasa_is_up, timeout=300, what="Rasa to start again")
        with line.db.session() as s:  # the backoff has run its course (no waiting for it)
            s.execute(sa.update(PendingErasure).values(next_attempt_at=utcnow()))
        wait_for(lambda: pending(line) == 0, timeout=60, what="the retried erasure")
    assert redis_client.exists(tracker_key(line, conversation)) == 0
