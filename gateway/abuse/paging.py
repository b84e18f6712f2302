"""Paging caps: at most `pages_per_hour` pages to one coordinator in any hour (and
`fallback_pages_per_hour` to the fallback contact). Beyond the cap the person is not paged
again, but nothing goes silent: the step moves on (backup, then fallback), the request stays
in the console queue, the console shows a banner, the fallback contact and every
administrator with a pager get one alert per capped person per hour, and a log line says so
(staff ids only, never a number or text).

Counted from the audit log (every page is an audit event written in the transaction that
queues it), with the paged staff row locked first, so replicas paging at once never pass the
cap together."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.escalation.models import AuditEvent, StaffUser
from gateway.messaging import outbox
from gateway.messaging.vault import NumberVault

log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
PAGE_ACTIONS = ("paged_primary", "paged_backup")
FALLBACK_PAGED = "fallback contact paged"
CAP_REACHED = "page_cap_reached"
CAP_ALERT = "page_cap_alert"


def _events(s: Session, actions: tuple[str, ...], detail: str, since: datetime) -> int:
    return s.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action.in_(actions), AuditEvent.detail == detail, AuditEvent.at > since)) or 0


def staff_may_be_paged(s: Session, staff: StaffUser, now: datetime, cap: int | None) -> bool:
    if cap is None:
        return True
    # Lock the staff row: two replicas paging the same person count one after the other.
    s.execute(select(StaffUser.id).where(StaffUser.id == staff.id).with_for_update())
    return _events(s, PAGE_ACTIONS, f"staff={staff.id}", now - HOUR) < cap


def fallback_may_be_paged(s: Session, now: datetime, cap: int | None) -> bool:
    if cap is None:
        return True
    return _events(s, ("fallback",), FALLBACK_PAGED, now - HOUR) < cap


def cap_reached(s: Session, *, target: str, escalation_id: int, now: datetime, cap: int,
                vault: NumberVault, fallback_pager: str | None) -> None:
    """Record that `target` ("staff=<id>" or "fallback") was not paged for this request, and
    alert (once an hour per target) the fallback contact and the administrators."""
    s.add(AuditEvent(actor="system", action=CAP_REACHED, escalation_id=escalation_id,
                     detail=target, at=now))
    log.warning("paging cap reached (%d an hour) for %s; request id %d not paged to them",
                cap, target, escalation_id)
    if _events(s, (CAP_ALERT,), target, now - HOUR):
        return
    text = (f"Rightsline alert: paging cap reached ({cap} pages in an hour) for "
            f"{'the fallback contact' if target == 'fallback' else 'coordinator #' + target[6:]}. "
            "Further requests are not paged to them for up to an hour: check the console queue.")
    recipients = [staff.pager_encrypted for staff in s.scalars(select(StaffUser).where(
        StaffUser.role == "admin", StaffUser.is_active.is_(True),
        StaffUser.pager_encrypted.is_not(None)))
        if f"staff={staff.id}" != target]
    if fallback_pager and target != "fallback":
        recipients.append(vault.encrypt(fallback_pager))
    for to in recipients:
        outbox.enqueue(s, conversation_id=None, to_encrypted=to, body=text)
    s.add(AuditEvent(actor="system", action=CAP_ALERT, escalation_id=escalation_id,
                     detail=target, at=now))
    if not recipients:
        log.warning("paging cap alert for %s: no administrator pager and no fallback contact; "
                    "shown in the console only", target)


def recent_cap_events(s: Session, now: datetime) -> list[tuple[str, int]]:
    """(target, requests not paged to it) in the last hour, for the console's banner."""
    return [(target, count) for target, count in s.execute(
        select(AuditEvent.detail, func.count()).where(
            AuditEvent.action == CAP_REACHED, AuditEvent.at > now - HOUR)
        .group_by(AuditEvent.detail).order_by(AuditEvent.detail))]
