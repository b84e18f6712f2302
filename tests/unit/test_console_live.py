"""Issue 13 items 3, 5, 6: live updates (JSON state endpoints), danger raised again by a later
message, the request page's layout and close confirmation, and error pages that keep the text."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, Escalation, Region
from gateway.escalation.service import request_escalation
from gateway.models import Message, utcnow
from tests.unit.fakes import FakeRasa
from tests.unit.test_console import csrf_of, env, sign_in  # noqa: F401 - the console fixture

URL = "/api/webchat/messages"


@pytest.fixture
def chat_env(sqlite_url):
    upgrade_database(sqlite_url)
    rasa = FakeRasa()
    app = create_app(Settings(database_url=sqlite_url, environment="test"), rasa=rasa.client())
    with TestClient(app) as client:
        yield client, Database(sqlite_url), rasa


@pytest.mark.parametrize("state", ["acknowledged", "notified"])
def test_a_later_danger_message_raises_the_open_request_to_danger(chat_env, state):
    client, db, rasa = chat_env
    rasa.reply = "utter_default"
    conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
    with db.session() as s:
        s.add(Region(code="vast", name="Väst"))
        s.flush()
        esc = request_escalation(s, conversation_id=conv, region_code="vast", urgency="normal",
                                 reason="request_human", may_contact=True, now=utcnow())
        esc.state = state
        esc_id = esc.id
    quiet = client.post(URL, json={"text": "när kommer du?", "conversation_id": conv}).json()
    assert "utter_emergency" not in [m["response"] for m in quiet["messages"]]
    with db.session() as s:
        assert s.get(Escalation, esc_id).urgency == "normal"
    danger = client.post(URL, json={"text": "hjälp mig, han slår mig", "conversation_id": conv}).json()
    assert danger["messages"][0]["response"] == "utter_emergency"
    with db.session() as s:
        esc = s.get(Escalation, esc_id)
        assert esc.urgency == "danger" and esc.state == state
        raised = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "raised_to_danger")).all()
        assert [(a.actor, a.escalation_id) for a in raised] == [("person", esc_id)]
    # Once more: already danger, not audited twice.
    client.post(URL, json={"text": "hjälp mig, han slår mig", "conversation_id": conv})
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action == "raised_to_danger")) == 1


def test_a_closed_request_is_not_raised(chat_env):
    client, db, rasa = chat_env
    conv = client.post(URL, json={"text": "hej", "language": "sv"}).json()["conversation_id"]
    with db.session() as s:
        s.add(Region(code="vast", name="Väst"))
        s.flush()
        esc = request_escalation(s, conversation_id=conv, region_code="vast", urgency="normal",
                                 reason="request_human", may_contact=True, now=utcnow())
        esc.state = "closed"
        esc_id = esc.id
    client.post(URL, json={"text": "hjälp mig, han slår mig", "conversation_id": conv})
    with db.session() as s:
        assert s.get(Escalation, esc_id).urgency == "normal"


def test_state_endpoints_need_a_session_keep_regions_apart_and_carry_no_text(env):  # noqa: F811
    client, db, ids = env
    assert client.get("/console/api/queue-state").status_code == 401
    sign_in(client)
    queue = client.get("/console")
    assert queue.status_code == 200 and 'data-live="/console/api/queue-state"' in queue.text
    assert "<title>(4) Queue" in queue.text and "Potrzebuję pomocy, szef zabrał mój" in queue.text
    state = client.get("/console/api/queue-state")
    assert state.status_code == 200 and state.headers["content-type"].startswith("application/json")
    body = state.json()
    assert body["open"] == 4 and body["danger"] == 1
    assert {r["reference"] for r in body["requests"]} == {
        ids[k + "_ref"] for k in ("vast", "vast_danger", "vast_sms", "vast_no_contact")}
    assert body["requests"][0]["urgency"] == "danger"
    assert "Potrzebuję" not in state.text and "paszport" not in state.text
    before = body["signature"]
    with db.session() as s:  # the person writes: the signature changes
        s.add(Message(conversation_id="c" * 24, direction="inbound", channel="web",
                      language="pl", text="Gdzie jesteś?"))
    assert client.get("/console/api/queue-state").json()["signature"] != before
    one = client.get(f"/console/api/escalations/{ids['vast']}/state").json()
    assert one["messages"] == 3 and one["state"] == "notified" and "Gdzie" not in str(one)
    assert client.get(f"/console/api/escalations/{ids['syd']}/state").status_code == 404
    assert not [a for a in audit_actions(db) if a == "viewed_queue"][1:]  # polls are not audited


def audit_actions(db):
    with db.session() as s:
        return list(s.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))


def test_request_page_actions_first_words_and_stockholm_time(env):  # noqa: F811
    client, _, ids = env
    sign_in(client)
    view = client.get(f"/console/escalations/{ids['vast']}").text
    assert view.index('id="actions"') < view.index('id="conversation"')
    assert "The person asked to talk to a person" in view and "request_human" not in view
    assert "UTC" not in view
    close_form = re.search(r'<form[^>]*action="[^"]*/close".*?</form>', view).group(0)
    assert '<option value="">Choose an outcome' in close_form and " selected" not in close_form
    assert 'name="confirm" value="yes" required' in view


def test_close_asks_for_an_outcome_and_a_confirmation(env):  # noqa: F811
    client, db, ids = env
    sign_in(client)
    url = f"/console/escalations/{ids['vast']}"
    csrf = csrf_of(client, url)
    missing = client.post(f"{url}/close", data={"csrf": csrf})
    assert missing.status_code == 400 and "Choose an outcome" in missing.text
    unconfirmed = client.post(f"{url}/close", data={"csrf": csrf, "outcome": "referred_ngo"})
    assert unconfirmed.status_code == 200 and "goes back to the assistant" in unconfirmed.text
    assert re.search(r'<option value="referred_ngo" selected>', unconfirmed.text)
    with db.session() as s:
        assert s.get(Escalation, ids["vast"]).state == "notified"
    done = client.post(f"{url}/close", data={"csrf": csrf, "outcome": "referred_ngo",
                                             "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == url + "#actions"
    assert "Referred to an organisation" in client.get(url).text


def test_errors_are_console_pages_that_keep_the_typed_text(env):  # noqa: F811
    client, _, ids = env
    sign_in(client)
    url = f"/console/escalations/{ids['vast']}"
    typed = "Hej, jag heter Anna <och> jag ringer snart"
    stale = client.post(f"{url}/reply", data={"csrf": "stale", "text": typed, "lang": "sv"})
    assert stale.status_code == 403 and stale.headers["content-type"].startswith("text/html")
    assert "The form had expired" in stale.text and "Hej, jag heter Anna &lt;och&gt;" in stale.text
    fresh = csrf_of(client)
    assert f'name="csrf" value="{fresh}"' in stale.text and f'action="{url}/reply"' in stale.text
    too_long = client.post(f"{url}/reply", data={"csrf": fresh, "text": typed + "x" * 2000,
                                                  "lang": "en"})
    assert too_long.status_code == 400 and "Reply not sent" in too_long.text
    assert typed.replace("<", "&lt;").replace(">", "&gt;") in too_long.text
    assert '<option value="en" selected>' in too_long.text
    refused = client.post(f"/console/escalations/{ids['vast_no_contact']}/reply",
                          data={"csrf": fresh, "text": typed, "lang": "sv"})
    assert refused.status_code == 409 and "readonly" in refused.text and "Hej, jag heter" in refused.text
    admin_only = client.get("/console/admin")
    assert admin_only.status_code == 403 and "<html" in admin_only.text
    assert "administrator" in admin_only.text and 'href="/static/console.css"' in admin_only.text
    client.cookies.clear()
    signed_out = client.post(f"{url}/reply", data={"csrf": "x", "text": typed, "lang": "sv"})
    assert signed_out.status_code == 401 and "Sign in again" in signed_out.text
    assert "Hej, jag heter Anna" in signed_out.text
