"""What a person actually receives, measured through the running gateway.

    .venv/bin/python -m bench.understanding [--set heldout|dev|danger|dev_danger] [--model models/rightsline.tar.gz]

Starts the whole line (action server, Rasa, gateway; SQLite in a temp dir) and sends every
message of the held-out set as the FIRST message of a new web chat conversation with no
language given, as a first SMS or a chat opened without ?lang= arrives. Prints, per language
and per style:
- answer language: the reply is in the message's language;
- ... or hint: the reply is in its language, or carries the line saying how to choose one;
- right answer: the response meant for the message's intent is in the reply (danger: the
  emergency text comes first), and macro F1 over those responses;
- danger recall: immediate-danger messages whose reply starts with the emergency text;
- false danger: other messages whose reply starts with it.
The NLU alone (without the gateway's safety net) is bench/nlu_eval.py.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.heldout import RESPONSE_FOR_INTENT, STYLES, Example, load_set, macro_f1
from scripts.stack import DEFAULT_MODEL, Stack, loopback_settings
from translations.languages import CORE_LANGUAGES

HINT = "utter_language_hint"


@dataclass(frozen=True)
class Outcome:
    example: Example
    language: str
    responses: tuple[str, ...]

    @property
    def is_danger(self) -> bool:
        return self.example.intent == "emergency_danger"

    @property
    def language_ok(self) -> bool:
        return self.language == self.example.language

    @property
    def language_ok_or_hint(self) -> bool:
        return self.language_ok or HINT in self.responses

    @property
    def emergency_first(self) -> bool:
        return bool(self.responses) and self.responses[0] == "utter_emergency"

    @property
    def answered(self) -> str:
        """The response that answers the message (not the 112 text put first, not the hint)."""
        if self.is_danger:
            return "utter_emergency" if self.emergency_first else (self.responses or ("",))[0]
        rest = [r for r in self.responses if r not in ("utter_emergency", HINT)]
        return rest[0] if rest else "utter_emergency"

    @property
    def answer_ok(self) -> bool:
        return self.answered == RESPONSE_FOR_INTENT[self.example.intent]


def ask(client: httpx.Client, url: str, example: Example) -> Outcome:
    r = client.post(f"{url}/api/webchat/messages", json={"text": example.text})
    r.raise_for_status()
    body = r.json()
    return Outcome(example, body["language"], tuple(m["response"] for m in body["messages"]))


def summarise(label: str, outcomes: list[Outcome]) -> str:
    n = len(outcomes)
    danger = [o for o in outcomes if o.is_danger]
    other = [o for o in outcomes if not o.is_danger]
    gold = [RESPONSE_FOR_INTENT[o.example.intent] for o in outcomes]
    pred = [o.answered for o in outcomes]

    def rate(values: list[bool]) -> str:
        return f"{sum(values) / len(values):.3f}" if values else "    -"

    return (f"{label:<14}{n:>5}{rate([o.language_ok for o in outcomes]):>10}"
            f"{rate([o.language_ok_or_hint for o in outcomes]):>10}{rate([o.answer_ok for o in outcomes]):>9}"
            f"{macro_f1(gold, pred):>9.3f}{rate([o.emergency_first for o in danger]):>9}"
            f"{rate([o.emergency_first for o in other]):>9}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", default="heldout", choices=["heldout", "dev", "danger", "dev_danger"])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--languages", default=",".join(CORE_LANGUAGES))
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    examples = load_set(args.set, args.languages.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="rightsline-understanding-"))
    settings = loopback_settings(tmp)
    stack = Stack(settings=settings, log_dir=tmp / "log", model=Path(args.model))
    stack.start(timeout=420)
    try:
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(args.concurrency) as pool:
            outcomes = list(pool.map(lambda e: ask(client, settings.gateway_url, e), examples))
    finally:
        stack.stop()
    header = (f"{'':<14}{'n':>5}{'language':>10}{'or hint':>10}{'answer':>9}{'macroF1':>9}"
              f"{'danger':>9}{'false':>9}")
    print(f"set: {args.set}; first message of a new conversation, no language given; "
          f"through the gateway ({len(outcomes)} messages)")
    print(header)
    by_language: dict[str, list[Outcome]] = defaultdict(list)
    by_style: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_language[o.example.language].append(o)
        by_style[o.example.style].append(o)
    for lang in args.languages.split(","):
        print(summarise(lang, by_language[lang]))
    print(summarise("all", outcomes))
    print(header.replace(f"{'':<14}", f"{'style':<14}", 1))
    for style in [*STYLES, "-"]:
        if by_style.get(style):
            print(summarise(style, by_style[style]))
    if args.show_misses:
        for o in outcomes:
            if not (o.answer_ok and o.language_ok):
                print(f"  [{o.example.language}/{o.example.style}] {o.example.intent} -> "
                      f"{o.language} {list(o.responses)}: {o.example.text}")


if __name__ == "__main__":
    main()
