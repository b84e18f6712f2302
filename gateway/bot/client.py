"""The one path from every channel to Rasa (REST channel)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger(__name__)

# Rasa treats a text starting with "/" as an intent with full confidence ("/restart",
# "/request_human{...}"). No user may drive the dialogue that way, on any channel.
_COMMAND_PREFIX = re.compile(r"^[\s/\\]+")


def neutralise_commands(text: str) -> str:
    return _COMMAND_PREFIX.sub("", text)


@dataclass(frozen=True)
class BotMessage:
    text: str
    response: str | None = None
    machine_translated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


# Rasa's channel for the gateway only (bot/channels.py): the REST channel behind the token.
WEBHOOK_PATH = "/webhooks/gateway/webhook"


# The one event the gateway replaces a tracker's events with to erase it, and the event
# bot/stores.py's tracker stores add to Rasa's answer once they deleted the tracker.
ERASE_TRACKER_REQUEST = "rightsline_erase_tracker"
TRACKER_ERASED_MARKER = "rightsline_tracker_erased"


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


class RasaClient:
    def __init__(
        self, base_url: str, timeout: float, token: str,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._token = token

    def send(self, sender_id: str, text: str, metadata: dict[str, Any]) -> list[BotMessage]:
        payload = {"sender": sender_id, "message": neutralise_commands(text), "metadata": metadata}
        try:
            resp = self._client.post(f"{self.base_url}{WEBHOOK_PATH}", json=payload,
                                     headers={"Authorization": f"Bearer {self._token}"})
            resp.raise_for_status()
            items = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("rasa unavailable: %s", type(exc).__name__)
            raise RasaUnavailable(type(exc).__name__) from exc
        return [_to_bot_message(item) for item in items if isinstance(item, dict)]

    def is_up(self) -> bool:
        try:
            resp = self._client.get(
                f"{self.base_url}/status", params={"token": self._token}, timeout=3
            )
            return resp.status_code == 200 and bool(resp.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    def tracker(self, sender_id: str) -> dict[str, Any]:
        resp = self._client.get(
            f"{self.base_url}/conversations/{sender_id}/tracker", params={"token": self._token}
        )
        resp.raise_for_status()
        return resp.json()

    def intent_confidence(self, sender_id: str, intent: str) -> float | None:
        """How sure the NLU was that the conversation's latest message meant `intent`
        (from the intent ranking, even when another intent won; 0.0 when it is not among the
        ranked ones). None when that is not known (Rasa did not answer, no ranking)."""
        try:
            resp = self._client.get(
                f"{self.base_url}/conversations/{sender_id}/tracker",
                params={"token": self._token, "include_events": "NONE"},
            )
            resp.raise_for_status()
            ranking = (resp.json().get("latest_message") or {}).get("intent_ranking") or []
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        if not ranking:
            return None
        return max((float(r.get("confidence", 0)) for r in ranking
                    if isinstance(r, dict) and r.get("name") == intent), default=0.0)

    def erase(self, sender_id: str) -> bool:
        """Erase the conversation's tracker in Rasa's tracker store. True only when the store
        confirmed it deleted the tracker (bot/stores.py): replacing a tracker's events is an
        erasure only with those stores (Rasa's Redis store merges the old events
        back, its SQL store only appends), and Rasa answers 200 even when the store failed (it
        falls back to memory), so the 200 alone proves nothing. False: retry later
        (gateway.erasure keeps the erasure until it succeeds)."""
        try:
            resp = self._client.put(
                f"{self.base_url}/conversations/{sender_id}/tracker/events",
                params={"token": self._token, "include_events": "ALL"},
                json=[{"event": "action", "name": ERASE_TRACKER_REQUEST}],
            )
            resp.raise_for_status()
            events = resp.json().get("events") or []
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("could not erase the rasa tracker: %s", type(exc).__name__)
            return False
        if any(isinstance(e, dict) and e.get("event") == "action"
               and e.get("name") == TRACKER_ERASED_MARKER for e in events):
            return True
        log.warning("rasa's tracker store did not confirm the erasure (not a bot.stores store?)")
        return False

    def close(self) -> None:
        self._client.close()


def _to_bot_message(item: dict[str, Any]) -> BotMessage:
    custom = item.get("custom")
    if isinstance(custom, dict) and "text" in custom:
        return BotMessage(
            text=str(custom["text"]),
            response=custom.get("response"),
            machine_translated=bool(custom.get("machine_translated", False)),
        )
    return BotMessage(text=str(item.get("text", "")))
