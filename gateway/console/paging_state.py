"""A request's paging in words (issue 13, item 4): who was paged and when, what happens next
and when, who acknowledged; and the warnings when paging would reach nobody."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.abuse import paging
from gateway.console.html import e
from gateway.escalation.models import AuditEvent, Escalation, Region, StaffUser
from gateway.escalation.rota import as_utc, format_local, on_call, on_call_now
from gateway.escalation.service import EscalationPolicy

_STAFF = re.compile(r"staff[=:](\d+)")


def _at(value: datetime) -> str:
    return f"{format_local(value)} (Swedish time)"


def _name(names: dict[int, str], text: str | None) -> str:
    match = _STAFF.search(text or "")
    return names.get(int(match.group(1)), "a coordinator") if match else "a coordinator"


def _minutes_left(now: datetime, due: datetime) -> int:
    return max(0, int((as_utc(due) - as_utc(now)).total_seconds() + 59) // 60)


def acknowledged_text(s: Session, escalation: Escalation) -> str:
    if not escalation.acknowledged_by:
        return ""
    staff = s.get(StaffUser, escalation.acknowledged_by)
    who = staff.name if staff else "a coordinator"
    when = f" at {_at(escalation.acknowledged_at)}" if escalation.acknowledged_at else ""
    return f"Acknowledged by {who}{when}. / Kvitterat av {who}."


def paging_story(s: Session, escalation: Escalation, now: datetime,
                 policy: EscalationPolicy) -> str:
    events = s.execute(select(AuditEvent.at, AuditEvent.actor, AuditEvent.action,
                              AuditEvent.detail)
                       .where(AuditEvent.escalation_id == escalation.id)
                       .order_by(AuditEvent.id)).all()
    names = dict(s.execute(select(StaffUser.id, StaffUser.name)).all())
    lines = []
    for at, actor, action, detail in events:
        text = None
        if action == "requested":
            text = "The person asked for a coordinator."
        elif action == "paged_primary":
            text = f"{_name(names, detail)} (on call) was paged by SMS."
        elif action == "paged_backup":
            text = (f"{_name(names, detail)} (backup) was paged by SMS: the request was still "
                    "unanswered.")
        elif action == "no_primary_on_call":
            text = "Nobody was on call in this region."
        elif action == "timed_out":
            text = "Nobody acknowledged in time."
        elif action == "fallback":
            if detail == paging.FALLBACK_PAGED:
                text = "The fallback contact was paged by SMS."
            elif detail == "no fallback contact":
                text = "NOBODY was paged: no fallback contact is set."
            else:
                text = "The fallback contact was NOT paged (paging limit reached)."
        elif action == "acknowledged":
            text = f"Acknowledged by {_name(names, actor)}."
        elif action == "raised_to_danger":
            text = "Raised to DANGER: a later message was about danger."
        elif action == "closed":
            text = f"Closed by {_name(names, actor)}."
        if text:
            lines.append(f"<li><time>{e(_at(at))}</time> {e(text)}</li>")
    return ('<section id="paging" class="paging-state"><h2>Paging / Larmning</h2>'
            f'<ol class="timeline">{"".join(lines)}</ol>'
            f'<p class="next"><strong>Next / Härnäst:</strong> '
            f'{e(next_step(s, escalation, now, policy))}</p></section>')


def next_step(s: Session, escalation: Escalation, now: datetime,
              policy: EscalationPolicy) -> str:
    state = escalation.state
    if state == "closed":
        return "Nothing: the request is closed and the person is back with the assistant."
    if state == "acknowledged":
        return (acknowledged_text(s, escalation)
                + " Nobody else will be paged. Reply to the person, then close the request.")
    if state == "fallback":
        return ("Nobody else will be paged automatically. The request stays in the queue until "
                "someone acknowledges it. The person was told nobody could be reached now, "
                "with the numbers open now.")
    if state == "requested" or escalation.step_due_at is None:
        return "The person on call is being paged now."
    due = escalation.step_due_at
    backup = (on_call(s, escalation.region_code, "backup", as_utc(now))
              if escalation.region_code else None)
    if escalation.step == "primary" and backup and backup.id != escalation.paged_staff_id:
        then = f"{backup.name} (backup) will be paged"
    elif policy.fallback_pager:
        then = "the fallback contact will be paged"
    else:
        then = ("NOBODY more will be paged (no backup on call and no fallback contact set); "
                "the person will be told nobody can be reached now")
    minutes = _minutes_left(now, due)
    return f"If nobody acknowledges by {_at(due)} (in {minutes} min), {then}."


def coverage_warnings(s: Session, now: datetime, region_code: str | None, is_admin: bool,
                      policy: EscalationPolicy) -> str:
    """Warnings when paging would reach nobody: no fallback contact, or a region (the reader's;
    administrators: all) with nobody on call or no backup now."""
    warnings = []
    if not policy.fallback_pager:
        warnings.append("No fallback contact is set (RIGHTSLINE_ESCALATION_FALLBACK_PAGER): when "
                        "nobody on call acknowledges, nobody else is paged. / Ingen reservkontakt.")
    names = dict(s.execute(select(Region.code, Region.name)).all())
    for code, slots in sorted(on_call_now(s, as_utc(now)).items()):
        if not is_admin and code != region_code:
            continue
        name = names.get(code, code)
        if slots["primary"] is None:
            warnings.append(f"Region {name}: nobody is on call now; a new request goes straight "
                            "to the fallback. / Ingen har jour.")
        elif slots["backup"] is None:
            warnings.append(f"Region {name}: no backup is on call now. / Ingen reserv har jour.")
    if not warnings:
        return ""
    items = "".join(f'<li>{e(w)}</li>' for w in warnings)
    return f'<div class="warnings" role="status"><ul>{items}</ul></div>'
