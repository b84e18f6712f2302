"""Request body limits, enforced before anything reads the body.

FastAPI parses JSON, forms and multipart uploads (spooling files to disk) before any token,
signature or session check can run. This ASGI middleware answers 413 as soon as the declared
Content-Length, or the bytes actually received, pass the route's limit, so a 50 MB post to
/console/login or /sms/twilio/inbound costs nothing but the refusal.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_LIMIT = 64 * 1024
# Longest prefix wins. The rota CSV upload is the only large body the line accepts.
ROUTE_LIMITS: dict[str, int] = {
    "/console/admin/rota": 1024 * 1024,
    "/api/webchat": 16 * 1024,  # text is at most 1000 characters
    "/chat": 16 * 1024,
    "/sms/twilio": 32 * 1024,  # Twilio's form: at most 1600 characters and a few fields
    "/console/login": 8 * 1024,
}


def limit_for(path: str, limits: dict[str, int] = ROUTE_LIMITS, default: int = DEFAULT_LIMIT) -> int:
    matches = [prefix for prefix in limits if path == prefix or path.startswith(prefix.rstrip("/") + "/")]
    return limits[max(matches, key=len)] if matches else default


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: dict[str, int] | None = None,
                 default: int = DEFAULT_LIMIT) -> None:
        self.app = app
        self.limits = ROUTE_LIMITS if limits is None else limits
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope.get("path", ""), self.limits, self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = True
            if too_large:
                await _refuse(send, limit)
                return
        received = 0
        started = refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer 413 now; the app sees the client go away and its answer is dropped.
                    if not started:
                        await _refuse(send, limit)
                    refused = True
                    return {"type": "http.disconnect"}
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:
            if not refused:
                raise


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"request body too large (limit {limit} bytes)"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
