"""Sending one SMS: through the Twilio REST client, or recorded only (local simulator mode)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)


class SendError(Exception):
    def __init__(self, message: str, *, is_retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.is_retryable = is_retryable
        self.status = status


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str  # Twilio's status ("queued", "sent", ...) or "simulated"


class SmsSender(Protocol):
    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult: ...


class _RebasedHttpClient(TwilioHttpClient):
    """Points the real twilio client at another API host (a fake Twilio in tests)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._base_url = base_url.rstrip("/")

    def request(self, method, uri, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
        uri = uri.replace("https://api.twilio.com", self._base_url, 1)
        return super().request(method, uri, *args, **kwargs)


class TwilioSender:
    def __init__(
        self, *, account_sid: str, auth_token: str, api_base_url: str,
        messaging_service_sid: str | None, from_number: str | None, timeout: float = 10,
    ) -> None:
        if not (messaging_service_sid or from_number):
            raise ValueError("set RIGHTSLINE_TWILIO_MESSAGING_SERVICE_SID or _FROM_NUMBER")
        http_client = (
            TwilioHttpClient(timeout=timeout)
            if api_base_url.rstrip("/") == "https://api.twilio.com"
            else _RebasedHttpClient(api_base_url, timeout)
        )
        self._client = Client(account_sid, auth_token, http_client=http_client)
        self._messaging_service_sid = messaging_service_sid
        self._from = from_number

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        kwargs = {"to": to, "body": body}
        if self._messaging_service_sid:
            kwargs["messaging_service_sid"] = self._messaging_service_sid
        else:
            kwargs["from_"] = self._from
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self._client.messages.create(**kwargs)
        except TwilioRestException as exc:
            # 429 and 5xx are worth retrying; other 4xx (bad number, blocked) are not.
            retryable = exc.status == 429 or exc.status >= 500
            raise SendError(f"twilio {exc.status} {exc.code}", is_retryable=retryable,
                            status=exc.status) from None
        except Exception as exc:  # network errors from requests
            raise SendError(f"transport {type(exc).__name__}", is_retryable=True) from None
        return SendResult(sid=message.sid, status=message.status or "queued")


class SimulatedSender:
    """Local simulator mode: nothing leaves the machine; the outbox row records the text."""

    def send(self, *, to: str, body: str, status_callback: str | None) -> SendResult:
        return SendResult(sid="SIM" + secrets.token_hex(16), status="simulated")
