"""The held-out message sets and the answers a person should get, shared by the benches.

Two sets, both never trained on:
- `tests/nlu/<lang>.yml` — the development set (Rasa NLU format), used to choose thresholds;
- `tests/nlu/heldout/<lang>.yml` — the test set, written by people who had not seen
  `nlu_data/`, every message tagged with a style (clean, typo, no_diacritics, translit, story,
  mixed, short, hard_negative). Only measured, never tuned on.
- `tests/nlu/heldout_danger/<lang>.yml` — a second test set about danger only (25 immediate
  danger, 25 close-sounding messages that are not, per language), written later by another
  writer who had seen neither `nlu_data/` nor the first sets. Only measured.
- `tests/nlu/dev_danger/<lang>.yml` — a development set of the same shape (20 danger, 20
  close-sounding, per language) by a third writer: danger rules are tuned on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEV_DIR = REPO / "tests" / "nlu"
HELDOUT_DIR = REPO / "tests" / "nlu" / "heldout"
DANGER_DIR = REPO / "tests" / "nlu" / "heldout_danger"
DEV_DANGER_DIR = REPO / "tests" / "nlu" / "dev_danger"
SETS = {"dev": DEV_DIR, "heldout": HELDOUT_DIR, "danger": DANGER_DIR, "dev_danger": DEV_DANGER_DIR}
STYLES = ("clean", "typo", "no_diacritics", "translit", "story", "mixed", "short", "hard_negative")

# What the bot answers a first message of each intent with (nlu_data/README.md).
RESPONSE_FOR_INTENT = {
    "greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_you_are_welcome",
    "affirm": "utter_how_can_i_help", "deny": "utter_how_can_i_help",
    "ask_about_line": "utter_about_line", "emergency_danger": "utter_emergency",
    "ask_reflection_period": "utter_reflection_period", "ask_rights": "utter_rights",
    "ask_housing": "utter_housing", "ask_medical": "utter_medical",
    "ask_interpreter": "utter_interpreter", "ask_legal_help": "utter_legal_help",
    "ask_police_report": "utter_police_report", "ask_residence_permit": "utter_residence_permit",
    "ask_compensation": "utter_compensation", "ask_return_home": "utter_return_home",
    "ask_sex_work_legal": "utter_sex_work_legal", "check_trafficking_signs": "utter_trafficking_signs",
    "ask_child_support": "utter_child_support", "ask_privacy": "utter_privacy",
    "request_human": "utter_handoff_explain", "change_language": "utter_language_menu",
    "ask_buyer_support": "utter_buyer_support", "ask_contacts": "utter_contacts",
    "ask_non_punishment": "utter_non_punishment", "out_of_scope": "utter_default",
}


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str
    style: str = "-"


def load(path: Path) -> list[Example]:
    """Either format: Rasa NLU (`nlu: - intent/examples`) or the held-out `messages:` list."""
    language = path.stem
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if "messages" in data:
        return [Example(str(m["text"]), m["intent"], language, m.get("style", "-"))
                for m in data["messages"]]
    examples = []
    for block in data.get("nlu") or []:
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append(Example(line[2:].strip(), block["intent"], language))
    return examples


def load_set(name: str, languages: list[str]) -> list[Example]:
    directory = SETS[name]
    return [e for lang in languages for e in load(directory / f"{lang}.yml")]


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
    return sum(scores) / len(scores) if scores else 0.0
