"""Starts the real action server, Rasa server and gateway on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from datetime import timedelta

import httpx
import pytest

from gateway.console import totp
from gateway.db import Database
from gateway.escalation.models import OnCallShift, StaffUser
from gateway.escalation.passwords import hash_password
from gateway.models import utcnow
from gateway.messaging.vault import NumberVault
from scripts.stack import LOOPBACK_TWILIO_TOKEN, Stack, loopback_settings
from tests.support.console_signin import SECRET, enrol
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


# --- Real headless Chromium (Debian's package) driven by Playwright -------------------------
CHROMIUM = "/usr/bin/chromium"
AXE_JS = Path(__file__).resolve().parents[1] / "support" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Without the background-networking flags Chromium tries Google's hosts at start; this
# machine's closed network refuses them (and the tests assert the page makes no such request).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Requests:
    """Every request a page made; anything not for the gateway is refused and remembered."""

    def __init__(self, gateway_url: str, allowed: tuple[str, ...] = ()) -> None:
        self.gateway_url = gateway_url.rstrip("/") + "/"
        self.allowed = allowed
        self.foreign: list[str] = []
        self.all: list[str] = []

    def handle(self, route) -> None:  # noqa: ANN001
        url = route.request.url
        self.all.append(url)
        if url.startswith(self.gateway_url):
            route.continue_()
        elif url.startswith(self.allowed):
            # The quick exit's neutral site: answered here, so the test needs no internet.
            route.fulfill(status=200, content_type="text/html",
                          body="<!doctype html><title>Weather</title><p>Weather</p>")
        else:
            self.foreign.append(url)
            route.abort()


@pytest.fixture
def phone(browser, stack):
    """A fresh phone-sized browser context (no cookies, no storage) with every request to a
    host other than the gateway intercepted, refused and failed on at the end of the test."""
    exit_url = stack.settings.quick_exit_url
    context = browser.new_context(**PHONE)
    requests = Requests(stack.settings.gateway_url, allowed=(exit_url,))
    context.route("**/*", requests.handle)
    page = context.new_page()
    page.requests = requests
    yield page
    cookies = context.cookies()
    context.close()
    assert requests.all, "the interception saw no request: the check above proves nothing"
    assert requests.foreign == [], f"requests to other hosts: {requests.foreign}"
    assert cookies == []


# --- The Väst on-call coordinator (escalation, console and browser tests) -----------------
PAGER = "+46701234000"
PASSWORD = "correct horse battery e2e"
_last_step: list[int] = []


def console_code() -> str:
    """A TOTP code for anna-e2e the gateway has not seen yet: each 30-second step is accepted
    once, and the step after the current one is accepted too (clock drift), so two sign-ins in
    the same step need no wait."""
    step = totp.step_of(utcnow())
    if _last_step and step <= _last_step[-1]:
        step = _last_step[-1] + 1
    while step > totp.step_of(utcnow()) + 1:
        time.sleep(1)
    _last_step.append(step)
    return totp.code_at(SECRET, step)


@pytest.fixture(scope="session")
def db(stack):
    database = Database(stack.settings.database_url)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def vast_on_call(stack, db) -> NumberVault:
    s = stack.settings
    vault = NumberVault(s.sender_hash_key.get_secret_value(), s.encryption_key.get_secret_value())
    with db.session() as session:
        anna = StaffUser(username="anna-e2e", name="Anna", role="coordinator", region_code="vast",
                         pager_encrypted=vault.encrypt(PAGER), pager_hash=vault.sender_hash(PAGER),
                         password_hash=hash_password(PASSWORD))
        session.add(anna)
        session.flush()
        enrol(session, anna.id, s.encryption_key.get_secret_value())
        session.add(OnCallShift(region_code="vast", staff_id=anna.id, position="primary",
                                starts_at=utcnow() - timedelta(hours=1),
                                ends_at=utcnow() + timedelta(hours=2)))
    return vault
