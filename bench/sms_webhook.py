"""SMS webhook latency and throughput: signed Twilio webhooks at the gateway, real Rasa behind.

    .venv/bin/python -m bench.sms_webhook [--requests 200] [--concurrency 1,4,16]

Starts the whole line on free loopback ports (simulator mode, signatures checked), fires
webhooks signed with the twilio library's RequestValidator from many distinct senders, and
prints p50/p95/p99 webhook response time (the time Twilio would wait) and sustained messages
per second. Also reports how many replies missed the TwiML budget and went to the outbox.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.webchat_latency import percentile
from gateway.db import Database
from gateway.models import OutboxMessage
from gateway.sms.simulator import inbound_params, signed_post
from scripts.stack import LOOPBACK_TWILIO_TOKEN as TOKEN
from scripts.stack import Stack, loopback_settings

TEXTS = ["ce este perioada de reflectie?", "Vad är betänketid?", "I need a doctor",
         "ฉันอยู่ในอันตราย ช่วยด้วย", "what are my rights", "potrzebuję prawnika"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rightsline-smsbench-"))
    settings = loopback_settings(tmp, rate_limit_per_sender=1000, rate_limit_global=100000)
    stack = Stack(settings=settings, log_dir=tmp / "log")
    stack.start(timeout=420)
    url = f"{settings.public_base_url}/sms/twilio/inbound"
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
    counter = iter(range(10**9))
    try:
        def fire(_: int) -> float:
            n = next(counter)
            params = inbound_params(f"+4670{n:07d}", "+46700000000", TEXTS[n % len(TEXTS)])
            start = time.perf_counter()
            resp = signed_post(client, url, params, TOKEN)
            resp.raise_for_status()
            return time.perf_counter() - start

        list(map(fire, range(10)))  # warm-up
        print(f"{'conc':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'msg/s':>8}")
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            started = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                ms = [v * 1000 for v in pool.map(fire, range(args.requests))]
            rate = args.requests / (time.perf_counter() - started)
            print(f"{concurrency:>5}{percentile(ms, 50):>9.1f}{percentile(ms, 95):>9.1f}"
                  f"{percentile(ms, 99):>9.1f}{rate:>8.1f}")
        db = Database(settings.database_url)
        with db.session() as s:
            deferred = s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        print(f"replies that missed the {settings.sms_reply_budget_seconds:.0f} s TwiML budget "
              f"(sent via outbox): {deferred}")
    finally:
        client.close()
        stack.stop()


if __name__ == "__main__":
    main()
