"""The gateway's input channel: Rasa's REST channel, for the gateway only.

Rasa's open REST webhook takes a message from anyone who reaches its port, including
"/request_human" or "/emergency_danger" commands that create escalations with no consent asked.
This channel (at /webhooks/gateway/webhook) refuses every caller without the internal token,
which only the gateway holds. bot/credentials.yml enables it instead of `rest`.

Its webhook is our own, not RestInput's: that one writes the person's words to the log when a
turn is cancelled or fails ("rest.message.received.timeout", text=...). This one logs what
happened, never the text. No streaming (the gateway does not use it).
"""

from __future__ import annotations

import hmac
import logging
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

log = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16


class GatewayInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "gateway"

    def __init__(self, token: str) -> None:
        if len(token or "") < MIN_TOKEN_LENGTH:
            raise ValueError("the gateway channel needs RIGHTSLINE_INTERNAL_TOKEN (16+ characters)")
        self._expected = f"Bearer {token}".encode()

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GatewayInput:
        return cls(str((credentials or {}).get("token") or ""))

    def is_authorised(self, request: Request) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._expected)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[None]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.middleware("request")
        async def require_token(request: Request) -> Any:
            if not self.is_authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            return None

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> Any:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> Any:
            if not isinstance(request.json, dict):
                return response.json({"error": "a JSON object is required"}, status=400)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(
                    self._extract_message(request), collector, await self._extract_sender(request),
                    input_channel=self._extract_input_channel(request),
                    metadata=self.get_metadata(request)))
            except CancelledError:
                log.error("gateway channel: turn cancelled (the caller went away)")
            except Exception as exc:  # noqa: BLE001 - logged without the text, answered empty
                log.error("gateway channel: turn failed: %s", type(exc).__name__)
            return response.json(collector.messages)

        return webhook
