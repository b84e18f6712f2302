"""Logging that never carries message text or phone numbers: log ids, names and counts only."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_rightsline", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._rightsline = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Access logs would carry query strings; httpx logs full URLs at INFO.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
