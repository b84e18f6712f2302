"""Issue 13 item 4: a request in danger moves on faster (its own timeout), and the backup's and
the fallback's pages say the request is still unanswered."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from gateway.config import Settings
from gateway.escalation.models import Escalation
from gateway.escalation.service import EscalationPolicy, Escalations, request_escalation
from gateway.models import OutboxMessage
from tests.unit.test_escalation import (  # noqa: F401 - env is a fixture
    BACKUP, FALLBACK, PRIMARY, T0, Clock, env, pages, state)


def service(db, vault, clock, **policy) -> Escalations:
    return Escalations(db=db, vault=vault, clock=clock,
                       policy=EscalationPolicy(fallback_pager=FALLBACK, **policy))


def new_request(db, clock, urgency: str) -> int:
    with db.session() as s:
        return request_escalation(s, conversation_id=None, region_code="vast", urgency=urgency,
                                  reason="emergency_danger", may_contact=True, now=clock()).id


def bodies(db) -> list[str]:
    with db.session() as s:
        return list(s.scalars(sa.select(OutboxMessage.body).order_by(OutboxMessage.id)))


def test_the_danger_timeout_is_a_setting_with_a_default_of_five_minutes():
    assert Settings().escalation_danger_ack_timeout_minutes == 5
    assert Settings(escalation_danger_ack_timeout_minutes=3).escalation_danger_ack_timeout_minutes == 3
    assert EscalationPolicy().danger_ack_timeout == timedelta(minutes=5)


def test_a_danger_request_moves_on_after_the_danger_timeout(env):
    db, vault = env
    clock = Clock(T0)
    escalations = service(db, vault, clock, ack_timeout=timedelta(minutes=10),
                          danger_ack_timeout=timedelta(minutes=5))
    danger, normal = new_request(db, clock, "danger"), new_request(db, clock, "normal")
    escalations.run_due_steps()
    with db.session() as s:
        assert s.get(Escalation, danger).step_due_at is not None
    clock.now += timedelta(minutes=4)
    assert escalations.run_due_steps() == 0
    clock.now += timedelta(minutes=2)  # 6 minutes: danger moves on, normal waits
    assert escalations.run_due_steps() == 1
    assert state(db, danger) == ("notified", "backup")
    assert state(db, normal) == ("notified", "primary")
    clock.now += timedelta(minutes=5)  # 11 minutes: danger to the fallback, normal to the backup
    escalations.run_due_steps()
    assert state(db, danger) == ("fallback", "fallback")
    assert state(db, normal) == ("notified", "backup")


def test_the_backup_and_the_fallback_are_told_the_request_is_still_unanswered(env):
    db, vault = env
    clock = Clock(T0)
    escalations = service(db, vault, clock)
    esc_id = new_request(db, clock, "normal")
    escalations.run_due_steps()
    clock.now += timedelta(minutes=11)
    escalations.run_due_steps()
    clock.now += timedelta(minutes=11)
    escalations.run_due_steps()
    assert pages(db, vault) == [PRIMARY, BACKUP, FALLBACK]
    first, backup, fallback = bodies(db)
    with db.session() as s:
        ref = s.get(Escalation, esc_id).reference
    assert "UNANSWERED" not in first
    for body in (backup, fallback):
        assert "STILL UNANSWERED" in body and f"ACK {ref}" in body
        assert "+46" not in body  # no personal data in a page
