"""`make run`: migrate, start the action server, Rasa and the gateway; Ctrl-C stops all three."""

from __future__ import annotations

import signal
import sys
import time

from gateway.config import REPO_ROOT, get_settings
from scripts.stack import Stack, StackError


def main() -> int:
    settings = get_settings()
    stack = Stack(settings=settings, log_dir=REPO_ROOT / "var" / "log")
    stopping = False

    def _stop(signum, frame):  # noqa: ANN001, ARG001
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("Starting Rightsline (Rasa takes about a minute to load) ...", flush=True)
    try:
        stack.start()
        print(f"Rightsline is running: open {settings.gateway_url}/  (logs in var/log/, "
              "Ctrl-C stops)", flush=True)
        while not stopping:
            for name, proc in stack.processes.items():
                if proc.poll() is not None:
                    print(f"{name} stopped unexpectedly; see var/log/{name}.log", flush=True)
                    stopping = True
            time.sleep(0.5)
    except StackError as exc:
        print(f"Rightsline could not start: {exc}", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    finally:
        stack.stop()
    print("Rightsline stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
