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
