"""Keeps the `language` slot in step with the language the gateway resolved for this turn."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# The gateway only sends codes it can render; anything else is ignored here.
LANGUAGE_CODE_MAX = 8


class ActionSetLanguage(Action):
    def name(self) -> str:
        return "action_set_language"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        metadata = tracker.latest_message.get("metadata") or {}
        language = metadata.get("language")
        if not isinstance(language, str) or not language or len(language) > LANGUAGE_CODE_MAX:
            return []
        if language == tracker.get_slot("language"):
            return []
        return [SlotSet("language", language)]
