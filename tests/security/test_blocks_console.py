"""Issue 11, item 4 over HTTP: the console's Block form on a request page and the
administrators' list (/console/admin/blocks), against a real app on SQLite.

A coordinator of the request's region blocks its SMS sender or web conversation for a chosen
time (CSRF required; another region is refused; no length under an hour, beyond
RIGHTSLINE_BLOCK_MAX_DAYS or for ever); the list shows it without any number or hash; an
administrator lifts it (audited without personal data); a non-admin sees no list; a blocked
web conversation gets 403 with 112; after expiry (an injected clock) the sender is taken again.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.abuse import blocks
from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, Region, StaffUser
from gateway.escalation.passwords import hash_password
from gateway.escalation.service import request_escalation
from gateway.models import AbuseBlock, Conversation, Message
from gateway.sms.simulator import inbound_params
from tests.support.console_signin import enrol, install_clock, next_code
from tests.unit.fakes import STRONG_TEST_SECRETS, FakeRasa
from translations.catalog import Catalog

PASSWORD = "correct horse battery staple"
NUMBER = "+46701234567"
LINE = "+46700000000"
TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://rightsline.example.org"
INBOUND = "/sms/twilio/inbound"
WEB_ID = "w" * 24
SMS_ID = "s" * 24


class Env:
    def __init__(self, client, app, db, rasa, clock, ids) -> None:
        self.client, self.app, self.db, self.rasa, self.clock, self.ids = (
            client, app, db, rasa, clock, ids)

    @property
    def sender_hash(self) -> str:
        return self.app.state.sms.vault.sender_hash(NUMBER)

    @property
    def web_hash(self) -> str:
        return self.app.state.abuse.conversation_hash(WEB_ID)

    def sign_in(self, username: str) -> None:
        resp = self.client.post("/console/login", data={
            "username": username, "password": PASSWORD, "code": next_code(self.clock)},
            follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/console", resp.text

    def csrf(self, url: str = "/console") -> str:
        resp = self.client.get(url)
        assert resp.status_code == 200, resp.text
        return re.search(r'name="csrf" value="([^"]+)"', resp.text).group(1)

    def block(self, escalation: str, *, hours="24", reason="flooding", csrf: str | None = ""):
        data = {"hours": hours, "reason": reason}
        if csrf is not None:
            data["csrf"] = csrf or self.csrf()
        return self.client.post(f"/console/escalations/{self.ids[escalation]}/block", data=data,
                                follow_redirects=False)

    def sms(self, body: str):
        params = inbound_params(NUMBER, LINE, body)
        signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}{INBOUND}", params)
        resp = self.client.post(INBOUND, data=params, headers={"X-Twilio-Signature": signature})
        assert resp.status_code == 200, resp.text
        return [m.text for m in ET.fromstring(resp.text).findall("Message")]

    def web(self, text: str):
        return self.client.post("/api/webchat/messages",
                                json={"text": text, "conversation_id": WEB_ID})

    def blocks(self) -> list[AbuseBlock]:
        with self.db.session() as s:
            rows = s.scalars(sa.select(AbuseBlock).order_by(AbuseBlock.id)).all()
            s.expunge_all()
            return list(rows)

    def audit(self) -> list[tuple[str, str, int | None, str | None]]:
        with self.db.session() as s:
            return [tuple(r) for r in s.execute(
                sa.select(AuditEvent.actor, AuditEvent.action, AuditEvent.escalation_id,
                          AuditEvent.detail).order_by(AuditEvent.id))]


@contextmanager
def line(sqlite_url, monkeypatch, **overrides):
    upgrade_database(sqlite_url)
    values = dict(database_url=sqlite_url, environment="test", detect_language=False,
                  twilio_auth_token=TOKEN, public_base_url=PUBLIC, **STRONG_TEST_SECRETS)
    values.update(overrides)
    settings = Settings(**values)
    rasa = FakeRasa()
    app = create_app(settings, rasa=rasa.client(), start_outbox_worker=False)
    db = Database(sqlite_url)
    vault = app.state.sms.vault
    clock = install_clock(app)
    # One clock for the console, the web chat's gate and the SMS webhook.
    app.state.abuse.clock = clock
    monkeypatch.setattr("gateway.sms.service.utcnow", clock)
    ids: dict[str, int | str] = {}
    with db.session() as s:
        s.add_all([Region(code="vast", name="Väst"), Region(code="syd", name="Syd")])
        s.flush()
        for username, role, region in (("anna", "coordinator", "vast"),
                                       ("cia", "coordinator", "syd"),
                                       ("root", "admin", None)):
            staff = StaffUser(username=username, name=username.title(), role=role,
                              region_code=region, password_hash=hash_password(PASSWORD))
            s.add(staff)
            s.flush()
            enrol(s, staff.id, settings.encryption_key.get_secret_value())
            ids[username] = staff.id
        web = Conversation(id=WEB_ID, channel="web", language="sv")
        sms = Conversation(id=SMS_ID, channel="sms", language="sv",
                           sender_hash=vault.sender_hash(NUMBER),
                           sender_encrypted=vault.encrypt(NUMBER))
        s.add_all([web, sms])
        s.flush()
        for conversation in (web, sms):
            s.add(Message(conversation_id=conversation.id, direction="inbound",
                          channel=conversation.channel, text="Jag behöver hjälp", language="sv"))
        for name, conversation_id in (("web", WEB_ID), ("sms", SMS_ID)):
            esc = request_escalation(s, conversation_id=conversation_id, region_code="vast",
                                     urgency="normal", reason="request_human", may_contact=True,
                                     now=clock.now - timedelta(minutes=5))
            esc.state = "notified"
            ids[name], ids[name + "_ref"] = esc.id, esc.reference
        ids["encrypted"] = sms.sender_encrypted
    try:
        with TestClient(app) as client:
            yield Env(client, app, db, rasa, clock, ids)
    finally:
        db.dispose()


@pytest.fixture
def env(sqlite_url, monkeypatch):
    with line(sqlite_url, monkeypatch) as e:
        yield e


def blocked_text(form: str) -> str:
    return Catalog.load().render("utter_blocked", "sv", form)


def test_the_request_page_offers_the_block_form_to_its_region_only(env):
    env.sign_in("anna")
    page = env.client.get(f"/console/escalations/{env.ids['sms']}")
    assert page.status_code == 200
    assert f'action="/console/escalations/{env.ids["sms"]}/block"' in page.text
    for hours in ("6", "24", "2160"):
        assert f'value="{hours}"' in page.text
    env.sign_in("cia")
    assert env.client.get(f"/console/escalations/{env.ids['sms']}").status_code == 404


def test_a_coordinator_blocks_the_sms_sender_of_a_request_in_her_region(env):
    env.sign_in("anna")
    assert env.block("sms", csrf=None).status_code == 403          # no CSRF token
    assert env.block("sms", csrf="forged-token").status_code == 403  # a wrong one
    assert env.blocks() == []
    start = env.clock.now
    resp = env.block("sms", hours="72", reason="abusive")
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/console/escalations/{env.ids['sms']}"
    [block] = env.blocks()
    assert (block.kind, block.key_hash, block.reason) == ("sms_sender", env.sender_hash, "abusive")
    assert block.created_by == env.ids["anna"] and block.escalation_id == env.ids["sms"]
    assert block.lifted_at is None
    length = block.expires_at.replace(tzinfo=None) - block.created_at.replace(tzinfo=None)
    assert length == timedelta(hours=72)
    assert block.created_at.replace(tzinfo=None) == start.replace(tzinfo=None)
    # Audited with ids, kind, length and reason only.
    [(actor, _, escalation_id, detail)] = [a for a in env.audit() if a[1] == "blocked"]
    assert actor == f"staff:{env.ids['anna']}" and escalation_id == env.ids["sms"]
    assert detail == f"block={block.id} kind=sms_sender hours=72 reason=abusive"

    # The sender: 112 once a day, no turn, nothing stored; DELETE still goes through.
    with env.db.session() as s:
        before = s.scalar(sa.select(sa.func.count()).select_from(Message))
    assert env.sms("hjälp mig") == [blocked_text("sms")]
    assert env.sms("hallå?") == []
    assert env.rasa.received == []
    with env.db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Message)) == before


def test_a_coordinator_of_another_region_is_refused(env):
    env.sign_in("cia")
    resp = env.block("sms")
    assert resp.status_code == 404 and "No such request in your region" in resp.text
    resp = env.block("web")
    assert resp.status_code == 404
    assert env.blocks() == []
    assert not [a for a in env.audit() if a[1] == "blocked"]


def test_lengths_outside_an_hour_to_the_maximum_and_for_ever_are_refused(sqlite_url, monkeypatch):
    with line(sqlite_url, monkeypatch, block_max_days=30) as env:
        env.sign_in("anna")
        # Beyond RIGHTSLINE_BLOCK_MAX_DAYS (90 days offered, 30 allowed here): a clear page.
        resp = env.block("sms", hours="2160")
        assert resp.status_code == 400
        assert "a block lasts from 1 hour to 30 days" in resp.text
        assert f'href="/console/escalations/{env.ids["sms"]}"' in resp.text  # the way back
        # Under an hour, for ever, nonsense: refused with a clear page, never a 500.
        for hours in ("0", "", "-24", "forever", "0.5", "876000", "99999999", "²", "٢٤"):
            resp = env.block("sms", hours=hours)
            assert resp.status_code == 400, (hours, resp.status_code)
            assert "Choose a length from the list" in resp.text
        # A reason outside the list is refused too (never free text in the audit log).
        resp = env.block("sms", hours="24", reason="he is a trafficker +46701234567")
        assert resp.status_code == 400 and "choose a reason from the list" in resp.text
        assert env.blocks() == []
        # Within the limit it works.
        assert env.block("sms", hours="720").status_code == 303
        [block] = env.blocks()
        assert block.expires_at is not None


def test_the_admin_list_shows_it_without_number_or_hash_and_an_admin_lifts_it(env):
    env.sign_in("anna")
    assert env.block("sms", hours="24", reason="flooding").status_code == 303
    [block] = env.blocks()
    assert env.sms("hej") == [blocked_text("sms")]

    env.sign_in("root")
    queue = env.client.get("/console")
    assert 'href="/console/admin/blocks"' in queue.text
    listing = env.client.get("/console/admin/blocks")
    assert listing.status_code == 200
    text = listing.text
    assert "SMS sender" in text and "Flooding" in text and "Anna" in text
    assert env.ids["sms_ref"] in text
    assert f'action="/console/admin/blocks/{block.id}/lift"' in text
    # No number and no hash (nor a piece of one) in the page.
    for secret in (NUMBER, NUMBER[1:], NUMBER[3:], env.sender_hash, env.ids["encrypted"]):
        assert secret not in text
    for i in range(0, len(env.sender_hash) - 8 + 1):
        assert env.sender_hash[i:i + 8] not in text
    assert f"<code>{blocks.fingerprint(env.sender_hash)}</code>" in text  # tells blocks apart
    assert [a for a in env.audit() if a[1] == "viewed_blocks"]

    # Lifting needs the CSRF token.
    assert env.client.post(f"/console/admin/blocks/{block.id}/lift").status_code == 403
    assert env.blocks()[0].lifted_at is None
    csrf = env.csrf("/console/admin/blocks")
    lifted = env.client.post(f"/console/admin/blocks/{block.id}/lift", data={"csrf": csrf})
    assert lifted.status_code == 200 and f"Block {block.id} lifted" in lifted.text
    [block] = env.blocks()
    assert block.lifted_at is not None and block.lifted_by == env.ids["root"]
    assert "lifted " in lifted.text.split("Ended in the last 30 days")[1]
    # Lifting twice: a clear refusal.
    again = env.client.post(f"/console/admin/blocks/{block.id}/lift", data={"csrf": csrf})
    assert again.status_code == 409 and "already lifted" in again.text
    # Audited with ids only.
    [(actor, _, escalation_id, detail)] = [a for a in env.audit() if a[1] == "block_lifted"]
    assert actor == f"staff:{env.ids['root']}" and escalation_id == env.ids["sms"]
    assert detail == f"block={block.id} kind=sms_sender"
    for _, _, _, detail in env.audit():
        for secret in (NUMBER, NUMBER[1:], env.sender_hash[:8], env.web_hash[:8]):
            assert secret not in (detail or "")
    # The sender is taken again.
    replies = env.sms("vad är betänketid")
    assert replies and replies != [blocked_text("sms")]
    assert len(env.rasa.received) == 1


def test_a_coordinator_cannot_see_the_list_or_lift(env):
    env.sign_in("anna")
    assert env.block("sms").status_code == 303
    [block] = env.blocks()
    queue = env.client.get("/console")
    assert "/console/admin/blocks" not in queue.text
    assert env.client.get("/console/admin/blocks", follow_redirects=False).status_code == 403
    csrf = env.csrf()
    resp = env.client.post(f"/console/admin/blocks/{block.id}/lift", data={"csrf": csrf})
    assert resp.status_code == 403
    assert env.blocks()[0].lifted_at is None
    assert not [a for a in env.audit() if a[1] in ("viewed_blocks", "block_lifted")]
    # Without a session: nothing.
    env.client.cookies.clear()
    assert env.client.get("/console/admin/blocks", follow_redirects=False).status_code == 303
    assert env.client.post(f"/console/admin/blocks/{block.id}/lift",
                           data={"csrf": csrf}).status_code == 401


def test_a_blocked_web_conversation_gets_403_with_112_until_the_block_ends(env):
    assert env.web("hej").status_code == 200
    assert len(env.rasa.received) == 1
    env.sign_in("anna")
    assert env.block("web", hours="6", reason="fake_requests").status_code == 303
    [block] = env.blocks()
    assert (block.kind, block.key_hash) == ("webchat", env.web_hash)

    refused = env.web("spam")
    assert refused.status_code == 403
    [message] = refused.json()["messages"]
    assert message["response"] == "utter_blocked"
    assert message["text"] == blocked_text("web") and "112" in message["text"]
    assert len(env.rasa.received) == 1
    # Still blocked just before the end; taken again after it (the injected clock).
    env.clock.advance(hours=5, minutes=58)
    assert env.web("igen").status_code == 403
    env.clock.advance(minutes=3)
    taken = env.web("nu då?")
    assert taken.status_code == 200, taken.text
    assert len(env.rasa.received) == 2
    # The ended block is listed as ended, without a Lift button.
    env.sign_in("root")
    listing = env.client.get("/console/admin/blocks").text
    active, ended = listing.split("Ended in the last 30 days")
    assert f"/console/admin/blocks/{block.id}/lift" not in listing
    assert "ended " in ended and "Web chat" in ended


def test_an_sms_block_ends_by_itself(env):
    env.sign_in("anna")
    assert env.block("sms", hours="6").status_code == 303
    assert env.sms("hej") == [blocked_text("sms")]
    env.clock.advance(hours=5)
    assert env.sms("hej igen") == []
    assert env.rasa.received == []
    env.clock.advance(hours=1, minutes=1)
    replies = env.sms("vad är betänketid")
    assert replies and blocked_text("sms") not in replies
    assert len(env.rasa.received) == 1


def test_an_ended_block_cannot_be_lifted(env):
    env.sign_in("anna")
    assert env.block("sms", hours="6").status_code == 303
    [block] = env.blocks()
    env.clock.advance(hours=7)
    env.sign_in("root")
    csrf = env.csrf("/console/admin/blocks")
    resp = env.client.post(f"/console/admin/blocks/{block.id}/lift", data={"csrf": csrf})
    assert resp.status_code == 409
    assert env.blocks()[0].lifted_at is None
