"""Escalations: the row is committed first, then timed steps page the on-call coordinator,
the backup, then the fallback, each step exactly once (a conditional UPDATE claims it inside
the same transaction that writes the page to the SMS outbox and the audit event)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.abuse import paging
from gateway.background import PeriodicWorker
from gateway.db import Database
from gateway.escalation.models import AuditEvent, Escalation, StaffUser
from gateway.escalation.rota import on_call
from gateway.models import Conversation, utcnow
from gateway.messaging import outbox
from gateway.messaging.vault import NumberVault

log = logging.getLogger(__name__)
ACTIVE_STATES = ("requested", "notified")
OUTCOMES = frozenset({"referred_social_services", "referred_police", "referred_ngo",
                      "information_given", "no_contact", "duplicate", "other"})
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
Clock = Callable[[], datetime]


class EscalationError(Exception):
    pass


@dataclass(frozen=True)
class EscalationPolicy:
    ack_timeout: timedelta = timedelta(minutes=10)
    # A request in danger moves on to the backup and the fallback sooner
    # (RIGHTSLINE_ESCALATION_DANGER_ACK_TIMEOUT_MINUTES).
    danger_ack_timeout: timedelta = timedelta(minutes=5)
    fallback_pager: str | None = None  # a national fallback contact's number, if configured
    # Pages per hour at most to one coordinator / to the fallback contact (gateway.abuse.paging;
    # None: no cap). The app sets them from RIGHTSLINE_ESCALATION_(FALLBACK_)PAGES_PER_HOUR.
    pages_per_hour: int | None = None
    fallback_pages_per_hour: int | None = None

    def timeout_for(self, urgency: str) -> timedelta:
        """How long a paged person has to acknowledge before the next step."""
        return self.danger_ack_timeout if urgency == "danger" else self.ack_timeout


def audit(session: Session, *, actor: str, action: str, escalation_id: int | None = None,
          detail: str | None = None, now: datetime | None = None) -> None:
    session.add(AuditEvent(actor=actor, action=action, escalation_id=escalation_id,
                           detail=detail, at=now or utcnow()))


def new_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(6))


def request_escalation(
    session: Session, *, conversation_id: str | None, region_code: str | None, urgency: str,
    reason: str, may_contact: bool, now: datetime,
) -> Escalation:
    """Write the escalation; its first step (paging) is due at once and done by a worker
    after this transaction commits."""
    escalation = Escalation(
        reference=new_reference(), conversation_id=conversation_id, region_code=region_code,
        urgency=urgency, reason=reason, may_contact=may_contact, state="requested", step="none",
        step_due_at=now, created_at=now, updated_at=now,
    )
    session.add(escalation)
    session.flush()
    audit(session, actor="person", action="requested", escalation_id=escalation.id,
          detail=f"region={region_code} urgency={urgency} may_contact={may_contact}", now=now)
    return escalation


def join_open_escalation(
    session: Session, *, conversation_id: str | None, urgency: str, reason: str,
    may_contact: bool, now: datetime,
) -> Escalation | None:
    """A conversation has at most one open request: a second one adds to it (danger raises
    its urgency, so it sorts first in the queue) instead of paging the rota again. Returns the
    open request, or None when there is none."""
    if conversation_id is None:
        return None
    escalation = session.scalar(
        select(Escalation).where(Escalation.conversation_id == conversation_id,
                                 Escalation.state != "closed")
        .order_by(Escalation.id).limit(1).with_for_update()
    )
    if escalation is None:
        return None
    if urgency == "danger" and escalation.urgency != "danger":
        escalation.urgency, escalation.reason = "danger", reason
        audit(session, actor="person", action="raised_to_danger", escalation_id=escalation.id, now=now)
    escalation.may_contact = escalation.may_contact or may_contact
    escalation.updated_at = now
    audit(session, actor="person", action="requested_again", escalation_id=escalation.id, now=now)
    return escalation


def page_text(escalation: Escalation, step: str = "primary") -> str:
    # No personal data in a page: a reference, the region, the urgency, how to acknowledge.
    # The backup and the fallback are told the request is still unanswered.
    urgency = "URGENT (danger)" if escalation.urgency == "danger" else "normal"
    region = escalation.region_code or "?"
    if step == "primary":
        return (f"Rightsline: new request {escalation.reference}, region {region}, "
                f"{urgency}. Reply ACK {escalation.reference} or open the console.")
    unanswered = ("nobody on call acknowledged it" if step == "fallback"
                  else "the coordinator on call did not acknowledge it")
    return (f"Rightsline: new request {escalation.reference}, region {region}, {urgency}, "
            f"STILL UNANSWERED: {unanswered}. Reply ACK {escalation.reference} or open the console.")


class Escalations:
    def __init__(self, *, db: Database, vault: NumberVault, policy: EscalationPolicy,
                 clock: Clock = utcnow,
                 notify_person: Callable[[Session, Escalation, str], None] | None = None) -> None:
        self.db = db
        self.vault = vault
        self.policy = policy
        self.clock = clock
        self.notify_person = notify_person or (lambda session, escalation, event: None)
        self._worker = PeriodicWorker("escalation-steps", self.run_due_steps)

    # --- timed steps ------------------------------------------------------------------
    def run_due_steps(self) -> int:
        now = self.clock()
        with self.db.session() as s:
            due = s.execute(
                select(Escalation.id, Escalation.step_due_at)
                .where(Escalation.state.in_(ACTIVE_STATES), Escalation.step_due_at <= now)
                .order_by(Escalation.step_due_at).limit(20)
            ).all()
        return sum(self._run_step(escalation_id, seen, now) is not None for escalation_id, seen in due)

    def run_first_step_now(self, escalation_id: int) -> str | None:
        """Page at once (the person is waiting for the answer in this turn), without the
        status message: the caller tells the person. Returns the new state, or None when
        another worker already took the step."""
        with self.db.session() as s:
            due = s.scalar(select(Escalation.step_due_at).where(Escalation.id == escalation_id))
        if due is None:
            return None
        return self._run_step(escalation_id, due, self.clock(), notify=False)

    def _run_step(self, escalation_id: int, seen_due_at: datetime, now: datetime, *,
                  notify: bool = True) -> str | None:
        with self.db.session() as s:
            claimed = s.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.step_due_at == seen_due_at,
                       Escalation.state.in_(ACTIVE_STATES))
                .values(step_due_at=None, updated_at=now)
            ).rowcount == 1
            if not claimed:
                return None  # another worker did this step
            escalation = s.get(Escalation, escalation_id)
            self._advance(s, escalation, now, notify=notify)
            return escalation.state

    def _advance(self, s: Session, escalation: Escalation, now: datetime, *, notify: bool) -> None:
        if escalation.step == "none":
            target = on_call(s, escalation.region_code, "primary", now) if escalation.region_code else None
            if target and self._may_page(s, escalation, target, now):
                return self._page(s, escalation, target, "primary", now, notify)
            if not target:
                audit(s, actor="system", action="no_primary_on_call", escalation_id=escalation.id,
                      now=now)
        else:
            audit(s, actor="system", action="timed_out", escalation_id=escalation.id,
                  detail=f"step={escalation.step}", now=now)
        if escalation.step in ("none", "primary"):
            backup = on_call(s, escalation.region_code, "backup", now) if escalation.region_code else None
            if (backup and backup.id != escalation.paged_staff_id
                    and self._may_page(s, escalation, backup, now)):
                return self._page(s, escalation, backup, "backup", now, notify)
        self._fallback(s, escalation, now, notify)

    def _may_page(self, s: Session, escalation: Escalation, staff: StaffUser, now: datetime) -> bool:
        """Under the paging cap; beyond it: an alert instead of a page (gateway.abuse.paging)."""
        if paging.staff_may_be_paged(s, staff, now, self.policy.pages_per_hour):
            return True
        paging.cap_reached(s, target=f"staff={staff.id}", escalation_id=escalation.id, now=now,
                           cap=self.policy.pages_per_hour or 0, vault=self.vault,
                           fallback_pager=self.policy.fallback_pager)
        return False

    def _page(self, s: Session, escalation: Escalation, staff: StaffUser, step: str,
              now: datetime, notify: bool) -> None:
        outbox.enqueue(s, conversation_id=None, to_encrypted=staff.pager_encrypted,
                       body=page_text(escalation, step))
        escalation.state, escalation.step, escalation.paged_staff_id = "notified", step, staff.id
        escalation.step_due_at = now + self.policy.timeout_for(escalation.urgency)
        audit(s, actor="system", action=f"paged_{step}", escalation_id=escalation.id,
              detail=f"staff={staff.id}", now=now)
        if notify:
            self.notify_person(s, escalation, f"paged_{step}")

    def _fallback(self, s: Session, escalation: Escalation, now: datetime, notify: bool) -> None:
        escalation.state, escalation.step, escalation.step_due_at = "fallback", "fallback", None
        paged = bool(self.policy.fallback_pager) and paging.fallback_may_be_paged(
            s, now, self.policy.fallback_pages_per_hour)
        if paged:
            outbox.enqueue(s, conversation_id=None, body=page_text(escalation, "fallback"),
                           to_encrypted=self.vault.encrypt(self.policy.fallback_pager))
        elif self.policy.fallback_pager:
            paging.cap_reached(s, target="fallback", escalation_id=escalation.id, now=now,
                               cap=self.policy.fallback_pages_per_hour or 0, vault=self.vault,
                               fallback_pager=None)
        audit(s, actor="system", action="fallback", escalation_id=escalation.id,
              detail=(paging.FALLBACK_PAGED if paged else "fallback contact not paged (cap)"
                      if self.policy.fallback_pager else "no fallback contact"),
              now=now)
        if notify:
            self.notify_person(s, escalation, "fallback")

    # --- coordinators' actions --------------------------------------------------------
    def acknowledge(self, s: Session, *, reference: str, staff: StaffUser) -> Escalation:
        now = self.clock()
        escalation = s.scalar(select(Escalation).where(Escalation.reference == reference.upper()))
        if escalation is None:
            raise EscalationError("unknown reference")
        if staff.role != "admin" and staff.region_code != escalation.region_code:
            raise EscalationError("this request belongs to another region")
        if escalation.state in ("acknowledged", "closed"):
            raise EscalationError(f"already {escalation.state}")
        escalation.state, escalation.step_due_at = "acknowledged", None
        escalation.acknowledged_by, escalation.acknowledged_at = staff.id, now
        escalation.updated_at = now
        audit(s, actor=f"staff:{staff.id}", action="acknowledged", escalation_id=escalation.id,
              now=now)
        self.notify_person(s, escalation, "acknowledged")
        return escalation

    def close(self, s: Session, *, escalation_id: int, staff: StaffUser, outcome: str) -> Escalation:
        if outcome not in OUTCOMES:
            raise EscalationError(f"unknown outcome; one of {sorted(OUTCOMES)}")
        now = self.clock()
        escalation = s.get(Escalation, escalation_id)
        if escalation is None or escalation.state == "closed":
            raise EscalationError("no open request with that id")
        if staff.role != "admin" and staff.region_code != escalation.region_code:
            raise EscalationError("this request belongs to another region")
        escalation.state, escalation.step_due_at, escalation.outcome = "closed", None, outcome
        escalation.closed_at = escalation.updated_at = now
        audit(s, actor=f"staff:{staff.id}", action="closed", escalation_id=escalation.id,
              detail=f"outcome={outcome}", now=now)
        self.notify_person(s, escalation, "closed")
        return escalation

    def acknowledge_by_sms(self, s: Session, *, sender_hash: str, text: str) -> str | None:
        """A coordinator's "ACK <reference>" from their pager. None if the sender is not staff."""
        staff = s.scalar(select(StaffUser).where(StaffUser.pager_hash == sender_hash,
                                                 StaffUser.is_active.is_(True)))
        if staff is None:
            return None
        words = text.strip().split()
        if len(words) != 2 or words[0].upper() not in ("ACK", "OK"):
            return "Rightsline: reply ACK <reference> to acknowledge a request."
        try:
            escalation = self.acknowledge(s, reference=words[1], staff=staff)
        except EscalationError as exc:
            return f"Rightsline: {words[1].upper()}: {exc}."
        return f"Rightsline: {escalation.reference} acknowledged. Open the console to reply."

    # --- background thread ------------------------------------------------------------
    def start(self, poll_seconds: float) -> None:
        self._worker.start(poll_seconds)

    def stop(self) -> None:
        self._worker.stop()


def conversation_of(s: Session, escalation: Escalation) -> Conversation | None:
    return s.get(Conversation, escalation.conversation_id) if escalation.conversation_id else None
