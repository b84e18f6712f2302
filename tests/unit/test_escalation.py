"""The escalation state machine with an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, Escalation, OnCallShift, Region, StaffUser
from gateway.escalation.service import (
    EscalationError,
    EscalationPolicy,
    Escalations,
    request_escalation,
)
from gateway.models import OutboxMessage
from gateway.messaging.vault import NumberVault

T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # a Monday, 14:00 in Stockholm
PRIMARY, BACKUP, OTHER_REGION, FALLBACK = "+46701000001", "+46701000002", "+46701000003", "+46701000009"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def env(database_url):
    upgrade_database(database_url)
    db = Database(database_url)
    vault = NumberVault("hash-key", Settings().encryption_key.get_secret_value())
    with db.session() as s:
        s.add_all([Region(code="vast", name="Väst"), Region(code="syd", name="Syd")])
        s.flush()
        staff = {}
        for username, region, number in (("anna", "vast", PRIMARY), ("bo", "vast", BACKUP),
                                         ("cia", "syd", OTHER_REGION)):
            staff[username] = StaffUser(username=username, name=username.title(), role="coordinator",
                                        region_code=region, pager_encrypted=vault.encrypt(number),
                                        pager_hash=vault.sender_hash(number))
            s.add(staff[username])
        s.flush()
        s.add_all([
            OnCallShift(region_code="vast", staff_id=staff["anna"].id, position="primary",
                        starts_at=T0 - timedelta(hours=6), ends_at=T0 + timedelta(hours=4)),
            OnCallShift(region_code="vast", staff_id=staff["bo"].id, position="backup",
                        starts_at=T0 - timedelta(hours=6), ends_at=T0 + timedelta(hours=4)),
        ])
    yield db, vault
    db.dispose()


def escalations(db, vault, clock, fallback=None) -> Escalations:
    notes: list[str] = []
    service = Escalations(db=db, vault=vault, clock=clock,
                          policy=EscalationPolicy(ack_timeout=timedelta(minutes=10),
                                                  fallback_pager=fallback),
                          notify_person=lambda s, e, event: notes.append(event))
    service.notes = notes  # type: ignore[attr-defined]
    return service


def new_request(db, clock, region="vast") -> int:
    with db.session() as s:
        return request_escalation(s, conversation_id=None, region_code=region, urgency="normal",
                                  reason="request_human", may_contact=True, now=clock()).id


def pages(db, vault) -> list[str]:
    with db.session() as s:
        return [vault.decrypt(r.to_encrypted) for r in s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))]


def state(db, escalation_id) -> tuple[str, str]:
    with db.session() as s:
        e = s.get(Escalation, escalation_id)
        return e.state, e.step


def actions(db, escalation_id) -> list[str]:
    with db.session() as s:
        return s.scalars(sa.select(AuditEvent.action).where(AuditEvent.escalation_id == escalation_id)
                         .order_by(AuditEvent.id)).all()


def test_the_row_is_committed_before_anyone_is_paged(env):
    db, vault = env
    clock = Clock(T0)
    esc_id = new_request(db, clock)
    assert pages(db, vault) == [] and state(db, esc_id) == ("requested", "none")
    escalations(db, vault, clock).run_due_steps()
    assert pages(db, vault) == [PRIMARY]
    assert state(db, esc_id) == ("notified", "primary")


def test_acknowledged_in_time_stops_the_timer(env):
    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock)
    esc_id = new_request(db, clock)
    service.run_due_steps()
    clock.now += timedelta(minutes=5)
    with db.session() as s:
        anna = s.scalar(sa.select(StaffUser).where(StaffUser.username == "anna"))
        ref = s.get(Escalation, esc_id).reference
        service.acknowledge(s, reference=ref.lower(), staff=anna)
    clock.now += timedelta(minutes=30)
    assert service.run_due_steps() == 0
    assert pages(db, vault) == [PRIMARY] and state(db, esc_id)[0] == "acknowledged"
    assert actions(db, esc_id) == ["requested", "paged_primary", "acknowledged"]
    assert service.notes == ["paged_primary", "acknowledged"]


def test_timed_out_goes_to_the_backup_then_the_fallback(env):
    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock, fallback=FALLBACK)
    esc_id = new_request(db, clock)
    service.run_due_steps()
    clock.now += timedelta(minutes=9)
    assert service.run_due_steps() == 0  # not yet
    clock.now += timedelta(minutes=2)
    service.run_due_steps()
    assert state(db, esc_id) == ("notified", "backup")
    clock.now += timedelta(minutes=11)
    service.run_due_steps()
    assert state(db, esc_id) == ("fallback", "fallback")
    assert pages(db, vault) == [PRIMARY, BACKUP, FALLBACK]
    assert actions(db, esc_id) == ["requested", "paged_primary", "timed_out", "paged_backup",
                                   "timed_out", "fallback"]
    assert service.notes == ["paged_primary", "paged_backup", "fallback"]


def test_out_of_hours_with_nobody_on_call_says_so_at_once(env):
    db, vault = env
    clock = Clock(T0 + timedelta(hours=8))  # 22:00 in Stockholm: the shifts ended
    service = escalations(db, vault, clock)
    esc_id = new_request(db, clock)
    service.run_due_steps()
    assert state(db, esc_id) == ("fallback", "fallback")
    assert pages(db, vault) == []
    assert service.notes == ["fallback"]
    assert "no_primary_on_call" in actions(db, esc_id)


def test_two_workers_racing_on_the_same_step_act_once(env):
    db, vault = env
    clock = Clock(T0)
    ids = [new_request(db, clock) for _ in range(10)]
    workers = [escalations(db, vault, clock) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        done = sum(pool.map(lambda w: w.run_due_steps(), workers))
    assert done == 10
    assert pages(db, vault) == [PRIMARY] * 10
    assert all(actions(db, i).count("paged_primary") == 1 for i in ids)


def test_a_restart_in_the_middle_loses_nothing_and_doubles_nothing(env):
    db, vault = env
    clock = Clock(T0)
    esc_id = new_request(db, clock)
    escalations(db, vault, clock).run_due_steps()  # paged, then the process dies
    clock.now += timedelta(minutes=11)
    escalations(db, vault, clock).run_due_steps()  # a new process picks the timer up
    escalations(db, vault, clock).run_due_steps()
    assert pages(db, vault) == [PRIMARY, BACKUP]
    assert state(db, esc_id) == ("notified", "backup")


def test_a_step_that_fails_midway_is_rolled_back_and_done_later(env):
    db, vault = env
    clock = Clock(T0)
    esc_id = new_request(db, clock)
    broken = escalations(db, vault, clock)

    def explode(s, e, event):
        raise RuntimeError("crash while notifying")

    broken.notify_person = explode
    with pytest.raises(RuntimeError):
        broken.run_due_steps()
    assert pages(db, vault) == [] and state(db, esc_id) == ("requested", "none")
    escalations(db, vault, clock).run_due_steps()
    assert pages(db, vault) == [PRIMARY]


def test_acknowledging_by_sms_and_region_rules(env):
    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock)
    esc_id = new_request(db, clock)
    service.run_due_steps()
    with db.session() as s:
        ref = s.get(Escalation, esc_id).reference
        # Another region's coordinator cannot take it.
        assert "another region" in service.acknowledge_by_sms(
            s, sender_hash=vault.sender_hash(OTHER_REGION), text=f"ACK {ref}")
        # A person who is not staff is not treated as an acknowledgement at all.
        assert service.acknowledge_by_sms(s, sender_hash=vault.sender_hash("+46709999999"),
                                          text=f"ACK {ref}") is None
        reply = service.acknowledge_by_sms(s, sender_hash=vault.sender_hash(PRIMARY), text=f"ack {ref}")
        assert "acknowledged" in reply and ref in reply
    assert state(db, esc_id)[0] == "acknowledged"


def test_close_needs_a_known_outcome_and_ends_the_handoff(env):
    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock)
    esc_id = new_request(db, clock)
    with db.session() as s:
        bo = s.scalar(sa.select(StaffUser).where(StaffUser.username == "bo"))
        with pytest.raises(EscalationError, match="outcome"):
            service.close(s, escalation_id=esc_id, staff=bo, outcome="told her to go home")
        service.close(s, escalation_id=esc_id, staff=bo, outcome="referred_social_services")
    assert state(db, esc_id)[0] == "closed"
    assert service.run_due_steps() == 0


@contextmanager
def internal_api(sqlite_url):
    """The gateway app with a fresh database (regions synced, nobody on call) and one Polish
    web chat conversation: (client, db, conversation id, the internal API's auth header)."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from gateway.config import LOCAL_INTERNAL_TOKEN
    from gateway.conversations import service as conversations
    from gateway.escalation.regions import sync_regions
    from tests.unit.fakes import FakeRasa

    upgrade_database(sqlite_url)
    db = Database(sqlite_url)
    with db.session() as s:
        sync_regions(s)
        conv_id = conversations.open_conversation(s, channel="webchat", language="pl").id
    app = create_app(Settings(database_url=sqlite_url, environment="test"), rasa=FakeRasa().client(),
                     start_outbox_worker=False)
    try:
        with TestClient(app) as client:
            yield client, db, conv_id, {"Authorization": f"Bearer {LOCAL_INTERNAL_TOKEN}"}
    finally:
        db.dispose()


def test_the_internal_api_starts_an_escalation_and_the_person_is_told(sqlite_url):
    from gateway.models import Message

    with internal_api(sqlite_url) as (client, db, conv_id, auth):
        app = client.app
        body = {"conversation_id": conv_id, "place": "mieszkam w Göteborgu", "may_contact": True}
        assert client.post("/internal/escalations", json=body).status_code == 401
        resp = client.post("/internal/escalations", json=body, headers=auth)
        assert resp.status_code == 201, resp.text
        assert resp.json()["region_code"] == "vast" and resp.json()["state"] == "fallback"
        missing = client.post("/internal/escalations", headers=auth,
                              json=body | {"conversation_id": "x" * 32})
        assert missing.status_code == 404
        # Nobody is on call in this fresh database: the first step ran at once and fell back;
        # the caller (the action server) tells the person, so no status message is queued.
        assert app.state.escalations.run_due_steps() == 0
        with db.session() as s:
            assert s.scalars(sa.select(Message).where(Message.conversation_id == conv_id)).all() == []
            assert s.scalar(sa.select(AuditEvent.action).where(AuditEvent.action == "fallback"))


def test_erasing_the_conversation_ends_the_request_and_stops_the_paging(env):
    from gateway.conversations import service as conversations

    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock, fallback=FALLBACK)
    with db.session() as s:
        conversation = conversations.open_conversation(s, channel="webchat")
        conversation_id = conversation.id
        esc_id = request_escalation(s, conversation_id=conversation_id, region_code="vast",
                                    urgency="danger", reason="emergency_danger", may_contact=True,
                                    now=clock()).id
    service.run_due_steps()
    with db.session() as s:
        assert conversations.delete_conversation(s, conversation_id)
    clock.now += timedelta(minutes=30)
    assert service.run_due_steps() == 0
    assert pages(db, vault) == [PRIMARY]  # neither the backup nor the fallback was paged
    assert state(db, esc_id)[0] == "closed"
    with db.session() as s:
        escalation = s.get(Escalation, esc_id)
        assert (escalation.outcome, escalation.conversation_id) == ("erased_by_person", None)
    assert actions(db, esc_id)[-1] == "erased"


def test_a_conversation_has_one_open_request_and_asking_again_pages_nobody(env):
    from gateway.conversations import service as conversations
    from gateway.escalation.service import join_open_escalation

    db, vault = env
    clock = Clock(T0)
    service = escalations(db, vault, clock, fallback=FALLBACK)
    with db.session() as s:
        conversation_id = conversations.open_conversation(s, channel="webchat").id
        assert join_open_escalation(s, conversation_id=conversation_id, urgency="normal",
                                    reason="request_human", may_contact=False, now=clock()) is None
        esc_id = request_escalation(s, conversation_id=conversation_id, region_code="vast",
                                    urgency="normal", reason="request_human", may_contact=False,
                                    now=clock()).id
    service.run_due_steps()
    for _ in range(5):  # a script asking again and again, the last time as "danger"
        clock.now += timedelta(seconds=30)
        with db.session() as s:
            joined = join_open_escalation(s, conversation_id=conversation_id, urgency="danger",
                                          reason="emergency_danger", may_contact=True, now=clock())
            assert joined.id == esc_id
        service.run_due_steps()
    assert pages(db, vault) == [PRIMARY]
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1
        escalation = s.get(Escalation, esc_id)
        assert (escalation.urgency, escalation.may_contact) == ("danger", True)
    assert actions(db, esc_id).count("raised_to_danger") == 1


def test_the_internal_api_answers_a_second_request_with_the_open_one(sqlite_url):
    with internal_api(sqlite_url) as (client, db, conv_id, auth):
        body = {"conversation_id": conv_id, "place": "Göteborg", "may_contact": True}
        first = client.post("/internal/escalations", json=body, headers=auth).json()
        again = client.post("/internal/escalations", json=body | {"urgency": "danger",
                            "reason": "emergency_danger"}, headers=auth).json()
        assert again["reference"] == first["reference"]
        with db.session() as s:
            assert s.scalar(sa.select(sa.func.count()).select_from(Escalation)) == 1
            assert s.scalar(sa.select(Escalation.urgency)) == "danger"
