"""Issue 11, item 8: a closed request no longer lets staff read on. A request shows the
conversation up to its close (what the person agreed to share); what the person writes after
the close is not shown, unless a later request (that the reader may see) was open then."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import Escalation, Region, StaffUser
from gateway.escalation.passwords import hash_password
from gateway.escalation.service import request_escalation
from gateway.models import Conversation, Message
from tests.support.console_signin import enrol, install_clock, next_code
from tests.unit.fakes import FakeRasa
from translations.mt import FakeTranslator

PASSWORD = "correct horse battery staple"


@pytest.fixture
def env(database_url):
    upgrade_database(database_url)
    settings = Settings(database_url=database_url, environment="test", detect_language=False)
    app = create_app(settings, rasa=FakeRasa().client(), translator=FakeTranslator(set()),
                     start_outbox_worker=False)
    clock = install_clock(app)
    db = Database(database_url)
    t0 = clock.now - timedelta(days=2)
    ids = {}
    with db.session() as s:
        s.add_all([Region(code="vast", name="Väst"), Region(code="syd", name="Syd")])
        s.flush()
        for username, region in (("anna", "vast"), ("cia", "syd")):
            staff = StaffUser(username=username, name=username.title(), role="coordinator",
                              region_code=region, password_hash=hash_password(PASSWORD))
            s.add(staff)
            s.flush()
            enrol(s, staff.id, settings.encryption_key.get_secret_value())
            ids[username] = staff.id
        conversation = Conversation(id="w" * 24, channel="web", language="en", created_at=t0)
        s.add(conversation)
        s.flush()

        def say(minutes: int, text: str) -> None:
            s.add(Message(conversation_id=conversation.id, direction="inbound", channel="web",
                          text=text, language="en", created_at=t0 + timedelta(minutes=minutes)))

        say(0, "before the request: my boss took my passport")
        first = request_escalation(s, conversation_id=conversation.id, region_code="vast",
                                   urgency="normal", reason="request_human", may_contact=True,
                                   now=t0 + timedelta(minutes=1))
        say(2, "while it was open: I am in Gothenburg")
        first.state, first.outcome = "closed", "other"
        first.closed_at = t0 + timedelta(minutes=30)
        say(31, "after the close: I moved to a new address")
        ids["first"] = first.id
        ids["conversation"] = conversation.id
    with TestClient(app) as client:
        yield client, db, ids, clock, t0
    db.dispose()


def sign_in(client, clock, username="anna"):
    client.cookies.clear()
    resp = client.post("/console/login", data={"username": username, "password": PASSWORD,
                                               "code": next_code(clock)},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text


def test_after_the_close_only_the_requests_window_is_shown(env):
    client, db, ids, clock, t0 = env
    sign_in(client, clock)
    page = client.get(f"/console/escalations/{ids['first']}")
    assert page.status_code == 200
    assert "before the request" in page.text and "while it was open" in page.text
    assert "after the close" not in page.text
    assert "written after this request was closed are not shown" in page.text


def test_a_later_request_opens_a_new_window_for_its_region_only(env):
    client, db, ids, clock, t0 = env
    with db.session() as s:
        s.add(Message(conversation_id=ids["conversation"], direction="inbound", channel="web",
                      text="asking again: please call me", language="en",
                      created_at=t0 + timedelta(hours=2, minutes=1)))
        second = request_escalation(s, conversation_id=ids["conversation"], region_code="vast",
                                    urgency="normal", reason="request_human", may_contact=True,
                                    now=t0 + timedelta(hours=2))
        second_id = second.id
    sign_in(client, clock)
    first = client.get(f"/console/escalations/{ids['first']}").text
    assert "asking again" in first and "while it was open" in first
    assert "after the close" not in first  # between the two requests: still not shown
    # The later request itself is open: the conversation as the person shared it.
    second_page = client.get(f"/console/escalations/{second_id}").text
    assert "after the close" in second_page and "asking again" in second_page
    # A later request in another region does not open the first one's window to its reader.
    with db.session() as s:
        s.get(Escalation, second_id).region_code = "syd"
    first = client.get(f"/console/escalations/{ids['first']}").text
    assert "asking again" not in first


def test_while_the_request_is_open_the_whole_conversation_is_shown(env):
    client, db, ids, clock, t0 = env
    with db.session() as s:
        escalation = s.get(Escalation, ids["first"])
        escalation.state, escalation.closed_at, escalation.outcome = "notified", None, None
    sign_in(client, clock)
    page = client.get(f"/console/escalations/{ids['first']}").text
    assert "after the close" in page and "not shown" not in page


def test_closing_in_the_console_hides_what_comes_later(env):
    client, db, ids, clock, t0 = env
    with db.session() as s:
        escalation = s.get(Escalation, ids["first"])
        escalation.state, escalation.closed_at, escalation.outcome = "notified", None, None
    sign_in(client, clock)
    url = f"/console/escalations/{ids['first']}"
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text).group(1)
    clock.now = t0 + timedelta(hours=1)  # the close happens after everything written so far
    assert client.post(f"{url}/close", data={"csrf": csrf, "outcome": "other", "confirm": "yes"},
                       follow_redirects=False).status_code == 303
    with db.session() as s:
        s.add(Message(conversation_id=ids["conversation"], direction="inbound", channel="web",
                      text="much later: he found the phone", language="en",
                      created_at=t0 + timedelta(hours=3)))
    page = client.get(url).text
    assert "after the close" in page  # written before this close
    assert "much later" not in page
