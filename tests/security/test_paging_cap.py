"""Issue 11, item 3: at most N pages an hour to one coordinator (and to the fallback contact);
beyond it the step moves on, and an alert goes to the fallback contact and the administrators,
the console and the log, instead of silence. Counted in the database: holds across replicas."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, Escalation, OnCallShift, Region, StaffUser
from gateway.escalation.service import EscalationPolicy, Escalations, request_escalation
from gateway.models import OutboxMessage
from gateway.messaging.vault import NumberVault

T0 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
PRIMARY, BACKUP, ADMIN, FALLBACK = "+46701000001", "+46701000002", "+46701000005", "+46701000009"


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
        s.add(Region(code="vast", name="Väst"))
        s.flush()
        staff = {}
        for username, role, number in (("anna", "coordinator", PRIMARY), ("bo", "coordinator", BACKUP),
                                       ("root", "admin", ADMIN)):
            staff[username] = StaffUser(username=username, name=username, role=role,
                                        region_code="vast" if role != "admin" else None,
                                        pager_encrypted=vault.encrypt(number),
                                        pager_hash=vault.sender_hash(number))
            s.add(staff[username])
        s.flush()
        for username, position in (("anna", "primary"), ("bo", "backup")):
            s.add(OnCallShift(region_code="vast", staff_id=staff[username].id, position=position,
                              starts_at=T0 - timedelta(hours=6), ends_at=T0 + timedelta(hours=6)))
    yield db, vault
    db.dispose()


def service(db, vault, clock, **caps) -> Escalations:
    return Escalations(db=db, vault=vault, clock=clock, policy=EscalationPolicy(
        ack_timeout=timedelta(minutes=10), fallback_pager=FALLBACK, **caps))


def new_request(db, clock) -> int:
    with db.session() as s:
        return request_escalation(s, conversation_id=None, region_code="vast", urgency="danger",
                                  reason="emergency_danger", may_contact=True, now=clock()).id


def sent(db, vault) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(vault.decrypt(r.to_encrypted), r.body)
                for r in s.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))]


def test_beyond_the_cap_the_next_person_is_paged_and_the_admins_are_alerted(env, caplog):
    db, vault = env
    clock = Clock(T0)
    first, second = service(db, vault, clock, pages_per_hour=2), service(db, vault, clock,
                                                                         pages_per_hour=2)
    caplog.set_level(logging.WARNING)
    states = []
    for i in range(5):  # a script asking again and again, through two replicas
        esc_id = new_request(db, clock)
        (first if i % 2 else second).run_due_steps()
        with db.session() as s:
            states.append(s.get(Escalation, esc_id).step)
        clock.now += timedelta(minutes=1)
    assert states == ["primary", "primary", "backup", "backup", "fallback"]
    pages = [to for to, body in sent(db, vault) if "new request" in body]
    assert pages == [PRIMARY, PRIMARY, BACKUP, BACKUP, FALLBACK]
    alerts = [(to, body) for to, body in sent(db, vault) if "alert" in body]
    # one alert per capped coordinator (not one per request), to the admin and the fallback
    assert sorted(to for to, _ in alerts) == sorted([ADMIN, FALLBACK, ADMIN, FALLBACK])
    with db.session() as s:
        capped = s.scalars(sa.select(AuditEvent.detail).where(
            AuditEvent.action == "page_cap_reached")).all()
    assert len(capped) == 4  # requests 3-5 not paged to anna, request 5 not to bo
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "paging cap reached" in logged
    assert not any(n in logged for n in (PRIMARY, BACKUP, ADMIN, FALLBACK))


def test_after_an_hour_the_coordinator_is_paged_again(env):
    db, vault = env
    clock = Clock(T0)
    escalations = service(db, vault, clock, pages_per_hour=1)
    for _ in range(2):
        new_request(db, clock)
        escalations.run_due_steps()
    clock.now += timedelta(minutes=61)
    esc_id = new_request(db, clock)
    escalations.run_due_steps()
    with db.session() as s:
        assert s.get(Escalation, esc_id).step == "primary"


def test_the_fallback_contact_is_capped_too_and_the_request_stays_queued(env):
    db, vault = env
    clock = Clock(T0)
    with db.session() as s:
        s.execute(sa.delete(OnCallShift))
    escalations = service(db, vault, clock, fallback_pages_per_hour=2)
    ids = []
    for _ in range(4):
        ids.append(new_request(db, clock))
        escalations.run_due_steps()
    pages = [to for to, body in sent(db, vault) if "new request" in body]
    assert pages == [FALLBACK, FALLBACK]
    with db.session() as s:
        assert [s.get(Escalation, i).state for i in ids] == ["fallback"] * 4  # all in the queue
    alerts = [to for to, body in sent(db, vault) if "alert" in body]
    assert alerts == [ADMIN]


def test_the_console_queue_shows_the_cap(env):
    from gateway.abuse.paging import recent_cap_events

    db, vault = env
    clock = Clock(T0)
    escalations = service(db, vault, clock, pages_per_hour=1)
    for _ in range(2):
        new_request(db, clock)
        escalations.run_due_steps()
    with db.session() as s:
        anna = s.scalar(sa.select(StaffUser.id).where(StaffUser.username == "anna"))
        assert recent_cap_events(s, clock.now) == [(f"staff={anna}", 1)]
        assert recent_cap_events(s, clock.now + timedelta(hours=2)) == []
