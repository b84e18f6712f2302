"""NLU quality per core language on the held-out test set (tests/nlu/, never trained on).

Run with the Rasa venv (it loads the trained model in-process):
    .venv-rasa/bin/python -m bench.nlu_eval [--model models/rightsline.tar.gz]
Prints, per language: examples, intent accuracy, macro F1, emergency_danger recall of the
NLU alone and together with the gateway's safety net (phrases, and the NLU's emergency
confidence >= EMERGENCY_MIN_CONFIDENCE even when another intent won: what a person actually
gets), and how often the net adds the emergency text to a message that is not about danger.
A prediction of nlu_fallback counts as wrong unless the gold intent is out_of_scope.
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

import yaml  # noqa: E402

from gateway.conversations.danger import EMERGENCY_MIN_CONFIDENCE, signals_danger  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def load_test_set(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    pairs = []
    for block in data["nlu"]:
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((line[2:].strip(), block["intent"]))
    return pairs


def macro_f1(gold: list[str], pred: list[str]) -> float:
    labels = sorted(set(gold))
    scores = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


async def evaluate(model: Path, languages: list[str]) -> list[dict]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    rows = []
    for lang in languages:
        pairs = load_test_set(REPO / "tests" / "nlu" / f"{lang}.yml")
        gold, pred, misses, emergency_conf = [], [], [], []
        for text, intent in pairs:
            parsed = await agent.parse_message(text)
            name = parsed["intent"]["name"]
            if name == "nlu_fallback" and intent == "out_of_scope":
                name = "out_of_scope"
            gold.append(intent)
            pred.append(name)
            emergency_conf.append(max((r["confidence"] for r in parsed["intent_ranking"]
                                       if r["name"] == "emergency_danger"), default=0.0))
            if intent == "emergency_danger" and name != intent and not signals_danger(text, lang) \
                    and emergency_conf[-1] < EMERGENCY_MIN_CONFIDENCE:
                misses.append(text)
        emergency = [p for g, p in zip(gold, pred) if g == "emergency_danger"]
        # What the person gets: the gateway's phrase safety net also puts 112 first.
        flagged = [p == "emergency_danger" or c >= EMERGENCY_MIN_CONFIDENCE or signals_danger(t, lang)
                   for (t, _), p, c in zip(pairs, pred, emergency_conf)]
        netted = [f for f, g in zip(flagged, gold) if g == "emergency_danger"]
        false_alarms = [f and p != "emergency_danger"
                        for f, g, p in zip(flagged, gold, pred) if g != "emergency_danger"]
        rows.append({
            "language": lang,
            "n": len(gold),
            "accuracy": sum(g == p for g, p in zip(gold, pred)) / len(gold),
            "macro_f1": macro_f1(gold, pred),
            "emergency_recall": sum(p == "emergency_danger" for p in emergency) / len(emergency),
            "emergency_recall_with_net": sum(netted) / len(netted),
            "net_false_alarm_rate": sum(false_alarms) / len(false_alarms),
            "emergency_misses": misses,
        })
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=str(REPO / "models" / "rightsline.tar.gz"))
    parser.add_argument("--languages", default="sv,en,ro,bg,hu,pl,ru,uk,es,fr,th,zh,ar")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rows = asyncio.run(evaluate(Path(args.model), args.languages.split(",")))
    print(f"{'lang':<5}{'n':>5}{'accuracy':>10}{'macro F1':>10}{'emerg. recall':>15}"
          f"{'+ safety net':>14}{'net false alarms':>18}")
    for r in rows:
        print(f"{r['language']:<5}{r['n']:>5}{r['accuracy']:>10.3f}{r['macro_f1']:>10.3f}"
              f"{r['emergency_recall']:>15.3f}{r['emergency_recall_with_net']:>14.3f}"
              f"{r['net_false_alarm_rate']:>18.3f}")
    for r in rows:
        for text in r["emergency_misses"]:
            print(f"  missed by both NLU and safety net [{r['language']}]: {text}")
    mean = sum(r["macro_f1"] for r in rows) / len(rows)
    print(f"mean macro F1 {mean:.3f}; languages below 0.90: "
          f"{[r['language'] for r in rows if r['macro_f1'] < 0.90]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
