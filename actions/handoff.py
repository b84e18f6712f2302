"""Asking for a person: the consent form's rules and the call to the gateway's internal API."""

from __future__ import annotations

import logging
import os
from typing import Any

import requests
from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

log = logging.getLogger(__name__)
HANDOFF_SLOTS = ("handoff_confirmed", "handoff_may_contact", "handoff_place")
# "Cancel" / "no" in the core languages, for the town question (free text, so no intent).
CANCEL_WORDS = frozenset("""
cancel stop no nej avbryt sluta nu anuleaza anulează renunt renunț nie anuluj nem megse mégse
не нет ні отмена отменить скасувати стоп откажи cancelar no annuler non ยกเลิก ไม่ 取消 不 不要
إلغاء لا الغاء
""".split())


def is_cancel(text: str) -> bool:
    return text.strip(" .!?¡¿,;:。！？").casefold() in CANCEL_WORDS


# What the person hears in this turn, by the state the first step left the request in.
STATE_RESPONSES = {"notified": "utter_handoff_paged", "fallback": "utter_handoff_fallback",
                   "requested": "utter_handoff_paged"}


class ValidateHandoffForm(FormValidationAction):
    def name(self) -> str:
        return "validate_handoff_form"

    async def required_slots(self, domain_slots: list[str], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: dict[str, Any]) -> list[str]:
        # "No" to the first question ends the form: nothing else is asked, nothing is sent.
        if tracker.get_slot("handoff_confirmed") is False:
            return ["handoff_confirmed"]
        # Opened from an outreach source's QR code: its region is known, the town is not asked.
        if tracker.get_slot("region_hint"):
            return [slot for slot in domain_slots if slot != "handoff_place"]
        return domain_slots

    def validate_handoff_place(self, value: Any, dispatcher: CollectingDispatcher,
                               tracker: Tracker, domain: dict[str, Any]) -> dict[str, Any]:
        text = str(value or "").strip()
        # The person can still say no at the last question: nothing is sent then.
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent == "deny" or is_cancel(text):
            return {"handoff_place": None, "handoff_confirmed": False}
        return {"handoff_place": text[:100] or None}


def urgency(tracker: Tracker) -> dict[str, str]:
    """A person who said they are in danger anywhere in this conversation is paged as urgent."""
    in_danger = any(
        event.get("event") == "user"
        and (event.get("parse_data") or {}).get("intent", {}).get("name") == "emergency_danger"
        for event in tracker.events
    )
    if in_danger:
        return {"reason": "emergency_danger", "urgency": "danger"}
    return {"reason": "request_human", "urgency": "normal"}


class ActionRequestHandoff(Action):
    def name(self) -> str:
        return "action_request_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[dict[str, Any]]:
        reset = [SlotSet(slot, None) for slot in HANDOFF_SLOTS]
        if not tracker.get_slot("handoff_confirmed"):
            dispatcher.utter_message(response="utter_handoff_cancelled")
            return reset
        try:
            resp = requests.post(
                os.environ["RIGHTSLINE_GATEWAY_INTERNAL_URL"] + "/internal/escalations",
                headers={"Authorization": f"Bearer {os.environ['RIGHTSLINE_INTERNAL_TOKEN']}"},
                json={"conversation_id": tracker.sender_id,
                      "place": tracker.get_slot("handoff_place"),
                      "region_code": tracker.get_slot("region_hint"),
                      "may_contact": bool(tracker.get_slot("handoff_may_contact")),
                      **urgency(tracker)},
                timeout=5,
            )
            resp.raise_for_status()
            state = resp.json()["state"]
        except (requests.RequestException, KeyError, ValueError) as exc:
            log.warning("could not start an escalation: %s", type(exc).__name__)
            dispatcher.utter_message(response="utter_handoff_failed")
            return reset
        dispatcher.utter_message(response=STATE_RESPONSES.get(state, "utter_handoff_paged"))
        return reset
