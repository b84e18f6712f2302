"""The web chat on a slow phone connection: page weight and time to the first answer.

    make bench            (or: .venv/bin/python -m bench.webchat_slow3g [--runs 5])

Starts the whole line on loopback (real Rasa), then opens the chat page in Debian's headless
Chromium with the network throttled through the DevTools protocol to the "Slow 3G" profile
(2 s round trip, 400 kbit/s down and up; the request latency is added by Chromium to every
request, on loopback too). Each run is a fresh browser context (cold: no cache, the page is
served with no-store anyway). Prints per run and as median / max:

- page weight: bytes transferred for the chat page's HTML + CSS + JS (as the browser counted
  them, headers included), and the same without throttling for comparison;
- time to a usable page (DOMContentLoaded, from the start of navigation);
- time to first answer: from the moment the person sends their first message (typed at once
  when the page is usable) until the bot's answer is on the screen;
- scan to answer: from the start of navigation (the QR code scanned) to the answer on screen.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from scripts.stack import Stack, loopback_settings

SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 400_000 / 8,
           "uploadThroughput": 400_000 / 8}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
QUESTION = "Ce este perioada de reflecție?"


def one_run(browser, base_url: str, throttle: bool) -> dict[str, float]:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    if throttle:
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    sizes: dict[str, int] = {}
    urls: dict[str, str] = {}
    cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
    cdp.on("Network.loadingFinished",
           lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
    started = time.perf_counter()
    page.goto(f"{base_url}/?lang=ro&src=bench", wait_until="domcontentloaded")
    usable = time.perf_counter()
    page.wait_for_load_state("load")
    weight = sum(size for rid, size in sizes.items()
                 if "/api/" not in urls.get(rid, "/api/"))
    page.fill("#text", QUESTION)
    sent = time.perf_counter()
    page.click("#send")
    page.wait_for_selector("#log .bot", timeout=120_000)
    answered = time.perf_counter()
    context.close()
    return {"weight_kb": weight / 1024, "usable_s": usable - started,
            "first_answer_s": answered - sent, "scan_to_answer_s": answered - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        settings = loopback_settings(Path(tmp), rasa_timeout_seconds=30)
        stack = Stack(settings=settings, log_dir=Path(tmp) / "log")
        stack.start(timeout=420)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=CHROMIUM_ARGS)
                one_run(browser, settings.gateway_url, throttle=False)  # warm Rasa up
                fast = one_run(browser, settings.gateway_url, throttle=False)
                runs = [one_run(browser, settings.gateway_url, throttle=True)
                        for _ in range(args.runs)]
                browser.close()
        finally:
            stack.stop()
    print("web chat page on a phone, Slow 3G (2 s RTT, 400 kbit/s), real Rasa, Chromium "
          f"headless, {args.runs} cold runs")
    print(f"  unthrottled: weight {fast['weight_kb']:.1f} KB transferred, usable "
          f"{fast['usable_s'] * 1000:.0f} ms, first answer {fast['first_answer_s'] * 1000:.0f} ms")
    for i, run in enumerate(runs, 1):
        print(f"  run {i}: weight {run['weight_kb']:.1f} KB, usable {run['usable_s']:.2f} s, "
              f"first answer {run['first_answer_s']:.2f} s, scan to answer "
              f"{run['scan_to_answer_s']:.2f} s")
    for key, label in (("weight_kb", "page weight (KB)"), ("usable_s", "usable page (s)"),
                       ("first_answer_s", "send to answer (s)"),
                       ("scan_to_answer_s", "scan to answer (s)")):
        values = [run[key] for run in runs]
        print(f"  {label}: median {statistics.median(values):.2f}, max {max(values):.2f}")


if __name__ == "__main__":
    main()
