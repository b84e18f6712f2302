"""A fake Twilio REST API: a real HTTP server on loopback that the real twilio Client talks to.

- POST .../Messages.json creates a message (recorded in `created`, kept in `messages`);
- POST .../Messages/{Sid}.json with an empty Body redacts it (what the twilio library's
  `messages(sid).update(body="")` sends): recorded in `redacted`, the stored body emptied;
- GET .../Messages.json lists the stored messages, filtered by To and From (one page).
`add_message` stores one the line did not send through the REST API (an inbound SMS, or a
reply Twilio sent from the webhook's TwiML answer). Can be told to fail the next calls with
given statuses, and that some SIDs do not exist (404).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_MESSAGE_PATH = re.compile(r"/Messages/([A-Za-z0-9]+)\.json$")


class FakeTwilio:
    def __init__(self) -> None:
        self.created: list[dict[str, str]] = []
        self.messages: dict[str, dict[str, str]] = {}  # sid -> {To, From, Body}
        self.redacted: list[str] = []  # SIDs whose body was emptied, in order
        self.missing: set[str] = set()  # SIDs Twilio does not know: 404
        self.fail_next: list[int] = []
        self.calls = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _failure(self, status: int) -> None:
                self._answer(status, {"code": {429: 20429, 404: 20404, 400: 21610}.get(status, 20500),
                                      "status": status, "message": "fake failure", "more_info": ""})

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                with fake._lock:
                    fake.calls += 1
                    status = fake.fail_next.pop(0) if fake.fail_next else 200
                    found = [_resource(sid, m) for sid, m in fake.messages.items()
                             if query.get("To", m["To"]) == m["To"]
                             and query.get("From", m["From"]) == m["From"]]
                if status != 200 or not url.path.endswith("/Messages.json"):
                    return self._failure(status if status != 200 else 404)
                self._answer(200, {"messages": found, "next_page_uri": None, "page": 0,
                                   "page_size": 50, "uri": url.path, "first_page_uri": url.path,
                                   "previous_page_uri": None, "start": 0, "end": len(found)})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(),
                                                     keep_blank_values=True).items()}
                update = _MESSAGE_PATH.search(self.path)
                with fake._lock:
                    fake.calls += 1
                    status = fake.fail_next.pop(0) if fake.fail_next else 201
                    if status != 201:
                        pass
                    elif update:
                        sid = update.group(1)
                        if sid in fake.missing:
                            status = 404
                        elif form.get("Body") == "":
                            status = 200
                            fake.redacted.append(sid)
                            if sid in fake.messages:
                                fake.messages[sid]["Body"] = ""
                        else:
                            status = 400  # only redaction is faked
                    elif self.path.endswith("/Messages.json"):
                        sid = "SM" + secrets.token_hex(16)
                        fake.created.append({**form, "sid": sid, "path": self.path})
                        fake.messages[sid] = {"To": form.get("To", ""),
                                              "From": form.get("From", ""),
                                              "Body": form.get("Body", "")}
                    else:
                        status = 404
                if status not in (200, 201):
                    return self._failure(status)
                body = {"sid": sid, "status": "delivered" if update else "queued",
                        "to": form.get("To"), "body": form.get("Body"), "num_segments": "1"}
                self._answer(status, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def add_message(self, *, to: str, from_: str, body: str, sid: str | None = None) -> str:
        sid = sid or "SM" + secrets.token_hex(16)
        with self._lock:
            self.messages[sid] = {"To": to, "From": from_, "Body": body}
        return sid

    def bodies_with(self, number: str) -> list[str]:
        """The non-empty bodies Twilio still holds to or from `number`."""
        with self._lock:
            return [m["Body"] for m in self.messages.values()
                    if number in (m["To"], m["From"]) and m["Body"]]

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self._server.shutdown()
        self._server.server_close()


def _resource(sid: str, message: dict[str, str]) -> dict[str, str]:
    return {"sid": sid, "to": message["To"], "from": message["From"], "body": message["Body"],
            "status": "delivered", "date_sent": formatdate(usegmt=True), "num_segments": "1"}
