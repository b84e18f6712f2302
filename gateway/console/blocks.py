"""Console: time-limited blocks (issue 11, item 4) and the paging-cap banner.

- On a request's page, the coordinator of its region (or an administrator) blocks the
  request's SMS sender (by its keyed number hash) or web chat conversation for a chosen time:
  6 hours to 90 days, never for ever (the phone may later be the victim's).
- /console/admin/blocks (administrators): every active block and those ended in the last 30
  days (kind, a short fingerprint of the hash, reason, who, since, until, the request), with
  "Lift" for each active one.
Every block, lift and view of the list is audited with ids only; no number, address or hash
leaves the server: an 8-character fingerprint derived from the hash (no piece of it) tells
blocks apart.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.abuse import blocks
from gateway.abuse.paging import recent_cap_events
from gateway.abuse.web import guard_of
from gateway.console import auth
from gateway.console.admin import AdminPage, AdminPost
from gateway.console.auth import PostStaff, SignedIn
from gateway.console.html import e, message_page, page, post_form
from gateway.console.html import select as select_field
from gateway.deps import DatabaseDep
from gateway.escalation.models import Escalation, StaffUser
from gateway.escalation.service import audit, conversation_of
from gateway.models import AbuseBlock

router = APIRouter(prefix="/console", include_in_schema=False)
BLOCKS_URL = "/console/admin/blocks"
KIND_LABELS = {"sms_sender": "SMS sender / SMS-avsändare", "webchat": "Web chat / Webbchatt"}


def _time(value) -> str:  # noqa: ANN001
    return auth.aware(value).strftime("%Y-%m-%d %H:%M UTC")


# --- hooks for the console's own pages ------------------------------------------------------

def block_form(csrf: str, escalation_id: int) -> str:
    """The form on a request's page (only while its conversation exists)."""
    inner = (select_field("hours", [(str(h), label) for h, label in blocks.DURATIONS.items()],
                          "Block the sender for / Blockera avsändaren i")
             + select_field("reason", list(blocks.REASONS.items()), "Reason / Skäl")
             + '<p class="hint">The sender gets no answers from the assistant and pages nobody; '
               'they still get 112 (at most once a day by SMS) and can always delete. '
               'An administrator can lift the block.</p>')
    return post_form(f"/console/escalations/{escalation_id}/block", csrf, inner,
                     "Block / Blockera", "block")


def paging_banner(s: Session, now, who: SignedIn) -> str:  # noqa: ANN001
    """On the queue: the paging caps reached in the last hour (and, for administrators, the
    way to the block list)."""
    out = ""
    events = recent_cap_events(s, now)
    if events:
        items = "".join(
            f"<li>{'the fallback contact' if target == 'fallback' else 'coordinator #' + e(target[6:])}"
            f": {count} request(s) not paged to them</li>" for target, count in events)
        out += ('<div class="error" role="alert"><p>Paging cap reached in the last hour / '
                f'Larmgräns nådd senaste timmen:</p><ul>{items}</ul></div>')
    if who.is_admin:
        out += f'<p><a href="{BLOCKS_URL}">Blocks / Blockeringar</a></p>'
    return out


# --- blocking from a request ------------------------------------------------------------------

@router.post("/escalations/{escalation_id}/block")
def block_sender(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep,
                 hours: Annotated[str, Form(max_length=8)] = "",
                 reason: Annotated[str, Form(max_length=32)] = "") -> Response:
    back = f"/console/escalations/{escalation_id}"
    guard = guard_of(request)
    now = auth.clock(request)
    # ASCII digits only: str.isdigit() also takes "²" (int() then raised: a 500) and other
    # scripts' digits, none of which the form sends.
    if not (hours.isascii() and hours.isdecimal()) or int(hours) not in blocks.DURATIONS:
        return message_page("Not done / Inte utfört", "Choose a length from the list.",
                            status_code=400, back=back, who=who.name, csrf=who.csrf)
    with db.session() as s:
        escalation = s.get(Escalation, escalation_id)
        if escalation is None or not who.may_see(escalation.region_code):
            return message_page("Not found / Hittades inte", "No such request in your region.",
                                status_code=404, back="/console", who=who.name, csrf=who.csrf)
        conversation = conversation_of(s, escalation)
        if conversation is None:
            return message_page("Not done / Inte utfört", "The conversation has been erased.",
                                status_code=409, back=back, who=who.name, csrf=who.csrf)
        if conversation.channel == "sms":
            kind, key = "sms_sender", conversation.sender_hash
        else:
            kind, key = "webchat", guard.conversation_hash(conversation.id)
        if not key:
            return message_page("Not done / Inte utfört", "This sender cannot be identified.",
                                status_code=409, back=back, who=who.name, csrf=who.csrf)
        try:
            blocks.create_block(s, blocks.BlockRequest(kind=kind, key_hash=key, hours=int(hours),
                                                       reason=reason),
                                actor_id=who.staff_id, now=now, max_days=guard.block_max_days,
                                escalation_id=escalation.id)
        except blocks.BlockError as exc:
            return message_page("Not done / Inte utfört", str(exc), status_code=400, back=back,
                                who=who.name, csrf=who.csrf)
    return RedirectResponse(back, status_code=303)


# --- the administrators' list -----------------------------------------------------------------

def _rows(rows: list[AbuseBlock], names: dict[int, str], refs: dict[int, str], who: SignedIn,
          now, *, active: bool) -> str:  # noqa: ANN001
    if not rows:
        return '<p class="empty">None. / Inga.</p>'
    lines = []
    for b in rows:
        if active:
            end = _time(b.expires_at)
            action = post_form(f"{BLOCKS_URL}/{b.id}/lift", who.csrf, "", "Lift / Häv", "inline")
        else:
            end = (f"lifted {_time(b.lifted_at)} by {names.get(b.lifted_by, '?')}"
                   if b.lifted_at else f"ended {_time(b.expires_at)}")
            action = ""
        request_cell = (f'<a href="/console/escalations/{b.escalation_id}">'
                        f'{e(refs.get(b.escalation_id, b.escalation_id))}</a>'
                        if b.escalation_id else "–")
        lines.append(
            f"<tr><td>{b.id}</td><td>{e(KIND_LABELS.get(b.kind, b.kind))}</td>"
            f"<td><code>{e(blocks.fingerprint(b.key_hash))}</code></td>"
            f"<td>{e(blocks.REASONS.get(b.reason, b.reason))}</td>"
            f"<td>{e(names.get(b.created_by, '?'))}</td><td>{e(_time(b.created_at))}</td>"
            f"<td>{e(end)}</td><td>{request_cell}</td><td>{action}</td></tr>")
    return ('<table class="blocks"><thead><tr><th>#</th><th>Kind / Typ</th><th>Fingerprint</th>'
            '<th>Reason / Skäl</th><th>By / Av</th><th>Since / Från</th><th>Until / Till</th>'
            '<th>Request / Ärende</th><th></th></tr></thead><tbody>'
            + "".join(lines) + "</tbody></table>")


def _list_page(request: Request, db, who: SignedIn, *, notice: str = "",  # noqa: ANN001
               status_code: int = 200) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        active, ended = blocks.list_blocks(s, now)
        ids = {b.created_by for b in active + ended} | {b.lifted_by for b in ended}
        names = {sid: name for sid, name in s.execute(
            select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids - {None})))}
        esc_ids = {b.escalation_id for b in active + ended} - {None}
        refs = {eid: ref for eid, ref in s.execute(
            select(Escalation.id, Escalation.reference).where(Escalation.id.in_(esc_ids)))}
        audit(s, actor=who.actor, action="viewed_blocks", detail=f"active={len(active)}", now=now)
        body = (
            (f'<p class="notice" role="status">{e(notice)}</p>' if notice else "")
            + "<p>A blocked SMS sender gets at most one short reply a day (112), no assistant, "
              "no coordinator; a blocked web conversation gets 112 with every message. Both can "
              "always delete. Blocks end by themselves.</p>"
            + "<h2>Active / Aktiva</h2>"
            + _rows(list(active), names, refs, who, now, active=True)
            + "<h2>Ended in the last 30 days / Avslutade senaste 30 dagarna</h2>"
            + _rows(list(ended), names, refs, who, now, active=False))
    return page("Blocks / Blockeringar", body, who=who.name, csrf=who.csrf,
                status_code=status_code)


@router.get("/admin/blocks", response_class=HTMLResponse)
def list_page(request: Request, who: AdminPage, db: DatabaseDep) -> HTMLResponse:
    return _list_page(request, db, who)


@router.post("/admin/blocks/{block_id}/lift", response_class=HTMLResponse)
def lift(request: Request, block_id: int, who: AdminPost, db: DatabaseDep) -> HTMLResponse:
    try:
        with db.session() as s:
            blocks.lift_block(s, block_id, actor_id=who.staff_id, now=auth.clock(request))
    except blocks.BlockError as exc:
        return _list_page(request, db, who, notice=str(exc), status_code=409)
    return _list_page(request, db, who, notice=f"Block {block_id} lifted. / Blockering hävd.")
