"""NLU quality per core language and per style on a held-out set (never trained on).

Run with the Rasa venv (it loads the trained model in-process):
    .venv-rasa/bin/python -m bench.nlu_eval [--set heldout|dev|danger|dev_danger] [--model models/rightsline.tar.gz]
Prints, per language and per style: examples, intent accuracy, macro F1, emergency_danger
recall of the NLU alone and together with the gateway's safety net (phrases, and the NLU's
emergency confidence >= EMERGENCY_MIN_CONFIDENCE even when another intent won: what a person
actually gets), and how often the net adds the emergency text to a message that is not about
danger. A prediction of nlu_fallback counts as wrong unless the gold intent is out_of_scope.
`--set heldout` (default) is tests/nlu/heldout/ (style-tagged, written without seeing
nlu_data/); `--set dev` is tests/nlu/<lang>.yml, the set thresholds are chosen on.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")

from bench.heldout import STYLES, Example, load_set, macro_f1  # noqa: E402
from gateway.conversations.danger import (  # noqa: E402
    EMERGENCY_MIN_CONFIDENCE,
    NET_MIN_NLU_CONFIDENCE,
    is_short_message,
    signals_danger,
)

REPO = Path(__file__).resolve().parent.parent


async def predict(model: Path, examples: list[Example]) -> list[tuple[str, float]]:
    """(intent, emergency_danger confidence) per example."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    out = []
    for example in examples:
        parsed = await agent.parse_message(example.text)
        name = parsed["intent"]["name"]
        if name == "nlu_fallback" and example.intent == "out_of_scope":
            name = "out_of_scope"
        emergency = max((r["confidence"] for r in parsed.get("intent_ranking", [])
                         if r["name"] == "emergency_danger"), default=0.0)
        out.append((name, emergency))
    return out


def row(label: str, items: list[tuple[Example, str, float]], threshold: float) -> dict:
    gold = [e.intent for e, _, _ in items]
    pred = [p for _, p, _ in items]
    # As served (gateway.conversations.turn.danger_first): a phrase hit counts when the NLU
    # gives danger at least NET_MIN_NLU_CONFIDENCE, or the message is short.
    flagged = [p == "emergency_danger" or c >= threshold
               or ((c >= NET_MIN_NLU_CONFIDENCE or is_short_message(e.text))
                   and signals_danger(e.text, e.language))
               for e, p, c in items]
    danger = [(p, f) for (e, p, _), f in zip(items, flagged) if e.intent == "emergency_danger"]
    others = [(p, f) for (e, p, _), f in zip(items, flagged) if e.intent != "emergency_danger"]

    def rate(values: list[bool]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {
        "label": label, "n": len(items),
        "accuracy": rate([g == p for g, p in zip(gold, pred)]),
        "macro_f1": macro_f1(gold, pred),
        "emergency_recall": rate([p == "emergency_danger" for p, _ in danger]),
        "emergency_recall_with_net": rate([f for _, f in danger]),
        "false_danger_nlu": rate([p == "emergency_danger" for p, _ in others]),
        "false_danger_with_net": rate([f for _, f in others]),
    }


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"{title:<14}{'n':>5}{'accuracy':>10}{'macro F1':>10}{'danger NLU':>12}{'+ net':>8}"
          f"{'false NLU':>11}{'+ net':>8}")
    for r in rows:
        print(f"{r['label']:<14}{r['n']:>5}{r['accuracy']:>10.3f}{r['macro_f1']:>10.3f}"
              f"{r['emergency_recall']:>12.3f}{r['emergency_recall_with_net']:>8.3f}"
              f"{r['false_danger_nlu']:>11.3f}{r['false_danger_with_net']:>8.3f}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "rightsline.tar.gz"))
    parser.add_argument("--set", default="heldout", choices=["heldout", "dev", "danger", "dev_danger"])
    parser.add_argument("--languages", default="sv,en,ro,bg,hu,pl,ru,uk,es,fr,th,zh,ar")
    parser.add_argument("--threshold", type=float, default=EMERGENCY_MIN_CONFIDENCE,
                        help="NLU emergency confidence that puts 112 first")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    languages = args.languages.split(",")
    examples = load_set(args.set, languages)
    predictions = asyncio.run(predict(Path(args.model), examples))
    items = [(e, p, c) for e, (p, c) in zip(examples, predictions)]
    print(f"set: {args.set}; model: {args.model}; NLU emergency threshold {args.threshold}")
    by_language = [row(lang, [i for i in items if i[0].language == lang], args.threshold)
                   for lang in languages]
    print_rows("language", by_language + [row("all", items, args.threshold)])
    styles = defaultdict(list)
    for i in items:
        styles[i[0].style].append(i)
    print_rows("style", [row(s, styles[s], args.threshold) for s in [*STYLES, "-"] if styles.get(s)])
    mean = sum(r["macro_f1"] for r in by_language) / len(by_language)
    print(f"mean macro F1 {mean:.3f}; languages below 0.90: "
          f"{[r['label'] for r in by_language if r['macro_f1'] < 0.90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
