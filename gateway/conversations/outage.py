"""What a person gets when the gateway's database cannot be reached: their message was not
kept, so no text may say it was saved or will be answered later (utter_unavailable is for a
kept message that Rasa could not answer).

utter_unavailable_unsaved says the message was not kept and gives 112 and the 24/7 line; words
that signal danger get the emergency text (112 first) before it. One rule for SMS, the web
chat's API and the no-database handler of every web chat route."""

from __future__ import annotations

from gateway.conversations.danger import signals_danger

UNSAVED = "utter_unavailable_unsaved"
EMERGENCY = "utter_emergency"


def outage_responses(text: str | None, language: str | None) -> list[str]:
    return ([EMERGENCY] if text and signals_danger(text, language) else []) + [UNSAVED]
