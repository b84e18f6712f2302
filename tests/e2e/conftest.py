"""Starts the real action server, Rasa server and gateway on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.stack import LOOPBACK_TWILIO_TOKEN, Stack, loopback_settings
from tests.support.fake_twilio import FakeTwilio
from tests.support.tiny_argos import build_tiny_package

TWILIO_TOKEN = LOOPBACK_TWILIO_TOKEN


def install_tiny_argos(home: Path, pairs: list[tuple[str, str]]) -> None:
    """Real Argos packages (tiny, built offline, copying their input) for the line to load."""
    packages = home.parent / "argos-build"
    for source, target in pairs:
        package = build_tiny_package(packages, source, target)
        subprocess.run([sys.executable, "-m", "translations.mt_cli", "install", str(package)],
                       env={**os.environ, "RIGHTSLINE_ARGOS_HOME": str(home)}, check=True,
                       capture_output=True)


@pytest.fixture(scope="session")
def fake_twilio():
    with FakeTwilio() as twilio:
        yield twilio


@pytest.fixture(scope="session")
def stack(tmp_path_factory, fake_twilio):
    tmp = tmp_path_factory.mktemp("stack")
    # Polish <-> Swedish, so the console shows a coordinator machine translations.
    install_tiny_argos(tmp / "argos", [("pl", "sv"), ("sv", "pl")])
    # Real sending through the twilio REST client, to a fake Twilio API on loopback.
    settings = loopback_settings(
        tmp, rasa_timeout_seconds=10, argos_home=tmp / "argos",
        twilio_account_sid="AC" + "e2e0" * 8, twilio_from_number="+46700000000",
        twilio_api_base_url=fake_twilio.base_url, outbox_poll_seconds=0.2,
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
