"""The gateway's input channel: Rasa's REST channel, for the gateway only.

Rasa's open REST webhook takes a message from anyone who reaches its port, including
"/request_human" or "/emergency_danger" commands that create escalations with no consent asked.
This channel (at /webhooks/gateway/webhook) refuses every caller without the internal token,
which only the gateway holds. bot/credentials.yml enables it instead of `rest`.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request

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
        webhook = super().blueprint(on_new_message)

        @webhook.middleware("request")
        async def require_token(request: Request) -> Any:
            if not self.is_authorised(request):
                return response.json({"error": "unauthorised"}, status=401)
            return None

        return webhook
