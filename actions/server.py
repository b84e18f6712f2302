"""The action server, for Rasa only: rasa_sdk's app behind a check of the internal token.

`rasa run actions` accepts action calls from anyone who reaches its port (and binds every
interface by default): a forged `action_request_handoff` call created escalations. Here every
request but /health must carry the token Rasa sends (bot/endpoints.yml, action_endpoint
headers), and the server binds the configured host only.

    python -m actions.server   (RIGHTSLINE_INTERNAL_TOKEN, RIGHTSLINE_ACTIONS_HOST/PORT)
"""

from __future__ import annotations

import hmac
import logging
import os

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

MIN_TOKEN_LENGTH = 16


def make_app(token: str) -> Sanic:
    if len(token) < MIN_TOKEN_LENGTH:
        raise SystemExit("RIGHTSLINE_INTERNAL_TOKEN (16+ characters) is required")
    app = create_app("actions", cors_origins=None)
    expected = f"Bearer {token}".encode()

    @app.middleware("request")
    async def require_token(request: Request):  # noqa: ANN202
        if request.path == "/health":
            return None
        given = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, expected):
            return response.json({"error": "unauthorised"}, status=401)
        return None

    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    token = os.environ.get("RIGHTSLINE_INTERNAL_TOKEN", "")
    host = os.environ.get("RIGHTSLINE_ACTIONS_HOST", "127.0.0.1")
    port = int(os.environ.get("RIGHTSLINE_ACTIONS_PORT", "5055"))
    make_app(token).run(host=host, port=port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
