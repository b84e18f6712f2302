"""A fake Twilio REST API: a real HTTP server on loopback that the real twilio Client talks to.

Records every Messages.json create, and every redaction (POST Messages/{Sid}.json with an
empty Body, what the twilio library's `messages(sid).update(body="")` sends); can be told to
fail the next calls with given statuses, and that some SIDs do not exist (404).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


_MESSAGE_PATH = re.compile(r"/Messages/([A-Za-z0-9]+)\.json$")


class FakeTwilio:
    def __init__(self) -> None:
        self.created: list[dict[str, str]] = []
        self.redacted: list[str] = []  # SIDs whose body was emptied, in order
        self.missing: set[str] = set()  # SIDs Twilio does not know: 404
        self.fail_next: list[int] = []
        self.calls = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(),
                                                     keep_blank_values=True).items()}
                update = _MESSAGE_PATH.search(self.path)
                with fake._lock:
                    fake.calls += 1
                    status = fake.fail_next.pop(0) if fake.fail_next else 201
                    if update and status == 201:
                        sid = update.group(1)
                        if sid in fake.missing:
                            status = 404
                        elif form.get("Body") == "":
                            status = 200
                            fake.redacted.append(sid)
                        else:
                            status = 400  # only redaction is faked
                    elif status == 201 and self.path.endswith("/Messages.json"):
                        sid = "SM" + secrets.token_hex(16)
                        fake.created.append({**form, "sid": sid, "path": self.path})
                    elif status == 201:
                        status = 404
                if status in (200, 201):
                    body = {"sid": sid, "status": "delivered" if update else "queued",
                            "to": form.get("To"), "body": form.get("Body"), "num_segments": "1"}
                else:
                    body = {"code": {429: 20429, 404: 20404, 400: 21610}.get(status, 20500),
                            "status": status, "message": "fake failure", "more_info": ""}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

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
