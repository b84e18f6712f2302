"""Starts the real action server, Rasa server and gateway on free loopback ports."""

from __future__ import annotations

import httpx
import pytest

from scripts.stack import LOOPBACK_TWILIO_TOKEN, Stack, loopback_settings

TWILIO_TOKEN = LOOPBACK_TWILIO_TOKEN


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    line = Stack(settings=loopback_settings(tmp, rasa_timeout_seconds=10), log_dir=tmp / "log")
    try:
        line.start(timeout=420)
        yield line
    finally:
        line.stop()


@pytest.fixture(scope="session")
def gateway(stack):
    with httpx.Client(base_url=stack.settings.gateway_url, timeout=30) as client:
        yield client
