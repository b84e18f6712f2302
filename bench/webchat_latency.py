"""Web chat latency and throughput with the real Rasa behind the gateway.

    make bench            (or: .venv/bin/python -m bench.webchat_latency)

Starts the whole line on free loopback ports (SQLite in a temp dir), then for each
concurrency level sends the same mix of questions through POST /api/webchat/messages and,
beside it, straight to Rasa's REST webhook (which still calls the gateway's /nlg). Prints
p50/p95/p99 latency and messages per second for both, and the gateway/Rasa ratio, plus the
resident memory of each process.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from scripts.stack import Stack, loopback_settings

QUESTIONS = [
    ("What is the reflection period?", "en"),
    ("Vad är betänketid?", "sv"),
    ("Ce este perioada de reflecție?", "ro"),
    ("I need a safe place to sleep", "en"),
    ("jestem w niebezpieczeństwie", "pl"),
    ("ฉันอยู่ในอันตราย ช่วยด้วย", "th"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def run_load(send, total: int, concurrency: int) -> tuple[list[float], float]:
    def one(i: int) -> float:
        start = time.perf_counter()
        send(i)
        return time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, range(total)))
    return latencies, total / (time.perf_counter() - started)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rightsline-bench-"))
    settings = loopback_settings(tmp)
    stack = Stack(settings=settings, log_dir=tmp / "log")
    stack.start(timeout=420)
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))
    try:
        def via_gateway(i: int) -> None:
            text, lang = QUESTIONS[i % len(QUESTIONS)]
            r = client.post(f"{settings.gateway_url}/api/webchat/messages",
                            json={"text": text, "language": lang})
            r.raise_for_status()
            assert r.json()["messages"], "no reply"

        def via_rasa(i: int) -> None:
            text, lang = QUESTIONS[i % len(QUESTIONS)]
            r = client.post(f"{settings.rasa_url}/webhooks/gateway/webhook",
                            headers={"Authorization": f"Bearer {settings.internal_token.get_secret_value()}"},
                            json={"sender": uuid.uuid4().hex, "message": text,
                                  "metadata": {"language": lang, "channel": "webchat"}})
            r.raise_for_status()

        run_load(via_gateway, 12, 2)  # warm-up
        print(f"{'path':<8}{'conc':>5}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'msg/s':>8}")
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            results = {}
            for name, send in (("gateway", via_gateway), ("rasa", via_rasa)):
                lat, rate = run_load(send, args.requests, concurrency)
                ms = [v * 1000 for v in lat]
                results[name] = statistics.median(ms)
                print(f"{name:<8}{concurrency:>5}{percentile(ms, 50):>9.1f}{percentile(ms, 95):>9.1f}"
                      f"{percentile(ms, 99):>9.1f}{rate:>8.1f}")
            print(f"  gateway/rasa p50 ratio at concurrency {concurrency}: "
                  f"{results['gateway'] / results['rasa']:.2f}")
        for name, proc in stack.processes.items():
            print(f"RSS {name}: {rss_mb(proc.pid):.0f} MB")
    finally:
        client.close()
        stack.stop()


if __name__ == "__main__":
    main()
