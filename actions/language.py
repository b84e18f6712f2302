"""Keeps the `language` and `region_hint` slots in step with what the gateway resolved for this
turn (sent as message metadata): the person's language, and the coordinator region of the
outreach source the chat was opened from, if any."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# The gateway only sends codes it can render; anything else is ignored here.
LANGUAGE_CODE_MAX = 8
REGION_CODE = re.compile(r"^[a-z0-9-]{1,16}$")


class ActionSetLanguage(Action):
    def name(self) -> str:
        return "action_set_language"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        metadata = tracker.latest_message.get("metadata") or {}
        events: list[dict[str, Any]] = []
        language = metadata.get("language")
        if (isinstance(language, str) and language and len(language) <= LANGUAGE_CODE_MAX
                and language != tracker.get_slot("language")):
            events.append(SlotSet("language", language))
        region = metadata.get("region")
        if isinstance(region, str) and REGION_CODE.match(region) and (
                region != tracker.get_slot("region_hint")):
            events.append(SlotSet("region_hint", region))
        return events
