"""Time from a person's last consent answer to the coordinator's page leaving the outbox,
while the SMS line is under load.

    .venv/bin/python -m bench.escalation_latency [--people 30] [--sms-concurrency 4]

Starts the whole line (simulator mode: the outbox worker "sends" by recording), puts an
on-call coordinator in region Väst, keeps signed SMS webhooks coming from many senders in the
background, and walks web chat users through the consent questions ("I want to talk to a
person" -> yes -> yes -> "Göteborg"). For each, measures from sending "Göteborg" to the page
row's sent_at. Prints p50/p95/max and the SMS rate sustained meanwhile.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.webchat_latency import percentile
from gateway.db import Database
from gateway.escalation.models import Escalation, OnCallShift, StaffUser
from gateway.models import OutboxMessage, utcnow
from gateway.messaging.vault import NumberVault
from gateway.sms.simulator import inbound_params, signed_post
from scripts.stack import LOOPBACK_TWILIO_TOKEN, Stack, loopback_settings

SMS_TEXTS = ["ce este perioada de reflectie?", "I need a doctor", "what are my rights"]


def seed_coordinator(db: Database, vault: NumberVault) -> None:
    with db.session() as s:
        staff = StaffUser(username="bench-anna", name="Anna", role="coordinator", region_code="vast",
                          pager_encrypted=vault.encrypt("+46701230000"),
                          pager_hash=vault.sender_hash("+46701230000"))
        s.add(staff)
        s.flush()
        s.add(OnCallShift(region_code="vast", staff_id=staff.id, position="primary",
                          starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(hours=6)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=30)
    parser.add_argument("--sms-concurrency", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rightsline-escbench-"))
    settings = loopback_settings(tmp, rate_limit_per_sender=100000, rate_limit_global=1000000)
    stack = Stack(settings=settings, log_dir=tmp / "log")
    stack.start(timeout=420)
    db = Database(settings.database_url)
    vault = NumberVault(settings.sender_hash_key.get_secret_value(),
                        settings.encryption_key.get_secret_value())
    seed_coordinator(db, vault)
    client = httpx.Client(base_url=settings.gateway_url, timeout=30,
                          limits=httpx.Limits(max_connections=64))
    stop = threading.Event()
    sms_sent = [0]

    def sms_load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            params = inbound_params(f"+4671{worker:02d}{n:05d}", "+46700000000",
                                    SMS_TEXTS[n % len(SMS_TEXTS)])
            signed_post(client, f"{settings.public_base_url}/sms/twilio/inbound", params,
                        LOOPBACK_TWILIO_TOKEN).raise_for_status()
            sms_sent[0] += 1

    def say(text: str, conv: str | None = None) -> dict:
        body = {"text": text, "language": "en"} if conv is None else {"text": text, "conversation_id": conv}
        resp = client.post("/api/webchat/messages", json=body)
        resp.raise_for_status()
        return resp.json()

    delays, missing = [], 0
    pool = ThreadPoolExecutor(args.sms_concurrency)
    try:
        started = time.perf_counter()
        for w in range(args.sms_concurrency):
            pool.submit(sms_load, w)
        for _ in range(args.people):
            conv = say("I want to talk to a real person")["conversation_id"]
            say("yes", conv)
            say("yes", conv)
            sent_at = datetime.now(UTC)
            said = say("Göteborg", conv)["messages"]
            deadline = time.monotonic() + 30
            delay = None
            while time.monotonic() < deadline:
                with db.session() as s:
                    ref = s.scalar(sa.select(Escalation.reference).where(Escalation.conversation_id == conv))
                    page_sent = s.scalar(sa.select(OutboxMessage.sent_at).where(
                        OutboxMessage.conversation_id.is_(None),
                        OutboxMessage.body.contains(ref or "-"), OutboxMessage.sent_at.is_not(None)))
                if page_sent:
                    page_sent = page_sent if page_sent.tzinfo else page_sent.replace(tzinfo=UTC)
                    delay = (page_sent - sent_at).total_seconds() * 1000
                    break
                time.sleep(0.05)
            if delay is None:
                missing += 1
                print(f"  no page for one person (bot said {[m['response'] for m in said]})")
            else:
                delays.append(delay)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        pool.shutdown(wait=True)
        client.close()
        db.dispose()
        stack.stop()
    print(f"people walked through consent: {args.people}; pages found: {len(delays)}; "
          f"missing: {missing}")
    if delays:
        print(f"consent -> page sent from the outbox: p50 {percentile(delays, 50):.0f} ms, "
              f"p95 {percentile(delays, 95):.0f} ms, max {max(delays):.0f} ms")
    print(f"SMS load meanwhile: {sms_sent[0]} webhooks in {elapsed:.0f} s "
          f"({sms_sent[0] / elapsed:.1f} msg/s, {args.sms_concurrency} concurrent senders)")


if __name__ == "__main__":
    main()
