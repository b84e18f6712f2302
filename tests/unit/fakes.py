"""Test doubles for unit tests: a fake Rasa REST channel behind the real RasaClient."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import httpx

from gateway.bot.client import RasaClient


@dataclass
class FakeRasa:
    """Answers like Rasa's REST channel with the NLG custom payload; records what it got."""

    received: list[dict] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    reply: str = "utter_greet"
    is_down: bool = False
    delay: float = 0.0
    # The NLU's emergency_danger confidence in the tracker's intent ranking; None: the tracker
    # has no ranking (the gateway then cannot tell, and the danger phrases decide alone).
    emergency_confidence: float | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.is_down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/status":
            return httpx.Response(200, json={"model_file": "rightsline.tar.gz"})
        if request.method == "GET" and request.url.path.endswith("/tracker"):
            if self.emergency_confidence is None:
                return httpx.Response(200, json={"latest_message": {}})
            return httpx.Response(200, json={"latest_message": {"intent_ranking": [
                {"name": self.reply, "confidence": 1 - self.emergency_confidence},
                {"name": "emergency_danger", "confidence": self.emergency_confidence}]}})
        if request.method == "PUT" and request.url.path.endswith("/tracker/events"):
            self.erased.append(request.url.path.split("/")[2])
            return httpx.Response(200, json={})
        body = json.loads(request.content)
        if self.delay:
            time.sleep(self.delay)
        self.received.append(body)
        return httpx.Response(200, json=[{
            "recipient_id": body["sender"],
            "custom": {"text": f"text of {self.reply}", "response": self.reply,
                       "machine_translated": False},
        }])

    def client(self) -> RasaClient:
        return RasaClient("http://rasa.test", 5, "token", transport=httpx.MockTransport(self.handler))


# Secrets for tests whose public URL is not loopback (the published local ones are refused
# there, see gateway.config.Settings). Test values, not secret.
STRONG_TEST_SECRETS = {
    "internal_token": "test-internal-token-" + "x" * 24,
    "sender_hash_key": "test-sender-hash-key-" + "y" * 24,
    "encryption_key": "Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=",
}
