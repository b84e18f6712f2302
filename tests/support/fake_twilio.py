"""A fake Twilio REST API: a real HTTP server on loopback that the real twilio Client talks to.

Records every Messages.json create; can be told to fail the next calls with given statuses.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeTwilio:
    def __init__(self) -> None:
        self.created: list[dict[str, str]] = []
        self.fail_next: list[int] = []
        self.calls = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with fake._lock:
                    fake.calls += 1
                    status = fake.fail_next.pop(0) if fake.fail_next else 201
                    if status == 201:
                        sid = "SM" + secrets.token_hex(16)
                        fake.created.append({**form, "sid": sid, "path": self.path})
                if not self.path.endswith("/Messages.json"):
                    status = 404
                if status == 201:
                    body = {"sid": sid, "status": "queued", "to": form.get("To"),
                            "body": form.get("Body"), "num_segments": "1"}
                else:
                    body = {"code": 20429 if status == 429 else 20500, "status": status,
                            "message": "fake failure", "more_info": ""}
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
