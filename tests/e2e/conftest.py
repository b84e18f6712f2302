"""Starts the real action server, Rasa server and gateway on free loopback ports."""

from __future__ import annotations

import httpx
import pytest

from gateway.config import Settings
from scripts.stack import Stack
from tests.conftest import free_port

TWILIO_TOKEN = "e2e-twilio-auth-token"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stack")
    gateway_port = free_port()
    settings = Settings(
        environment="test",
        database_url=f"sqlite:///{tmp / 'rightsline.db'}",
        gateway_port=gateway_port,
        # SMS in simulator mode (no account), but with signatures checked as Twilio's.
        twilio_auth_token=TWILIO_TOKEN,
        public_base_url=f"http://127.0.0.1:{gateway_port}",
        rasa_port=free_port(),
        actions_port=free_port(),
        internal_token="e2e-" + "x" * 40,
        rasa_timeout_seconds=10,
    )
    line = Stack(settings=settings, log_dir=tmp / "log")
    try:
        line.start(timeout=420)
        yield line
    finally:
        line.stop()


@pytest.fixture(scope="session")
def gateway(stack):
    with httpx.Client(base_url=stack.settings.gateway_url, timeout=30) as client:
        yield client
