"""The coordinator console's pages and actions. Every view and action is audited; phone
numbers are never decrypted or shown here (the SMS outbox gets the encrypted number)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from gateway.console import auth
from gateway.console.auth import PageStaff, PostStaff, SignedIn
from gateway.console.blocks import block_form, paging_banner
from gateway.console.html import e, lang_attrs, message_page, page, post_form
from gateway.console.html import select as select_field
from gateway.conversations.service import record_message
from gateway.deps import CatalogDep, DatabaseDep, SettingsDep, TranslatorDep
from gateway.escalation.models import Escalation, Region, StaffUser
from gateway.escalation.service import (
    OUTCOMES,
    EscalationError,
    Escalations,
    audit,
    conversation_of,
)
from gateway.models import Conversation, Message
from gateway.sms import outbox
from gateway.sms.segments import split_message
from translations.mt import Translator

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)

OPEN_STATES = ("requested", "notified", "acknowledged", "fallback")
REPLY_LANGUAGES = (("sv", "Svenska"), ("en", "English"))
MAX_REPLY = 2000
MT_LABEL = "Maskinöversatt / Machine translated"
NO_MT = "(no machine translation available)"
# An SMS has no label beside it: the person's own word for "machine translated" goes first.
SMS_MT_LABEL = "ui_machine_translated"
NO_CONTACT = "the person did not agree to be contacted on this channel"


def _escalations(request: Request) -> Escalations:
    return request.app.state.escalations


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _view_url(escalation_id: int) -> str:
    return f"/console/escalations/{escalation_id}"


def _visible(s: Session, who: SignedIn, escalation_id: int) -> Escalation | None:
    escalation = s.get(Escalation, escalation_id)
    if escalation is None or not who.may_see(escalation.region_code):
        return None  # another region's request is "not found", not "forbidden"
    return escalation


def _not_found(who: SignedIn) -> HTMLResponse:
    return message_page("Not found / Hittades inte", "No such request in your region.",
                        status_code=404, back="/console", who=who.name, csrf=who.csrf)


def _conflict(who: SignedIn, escalation_id: int, text: str, status_code: int = 409) -> HTMLResponse:
    return message_page("Not done / Inte utfört", text, status_code=status_code,
                        back=_view_url(escalation_id), who=who.name, csrf=who.csrf)


def _minutes(now: datetime, then: datetime) -> int:
    return max(0, int((now - auth.aware(then)).total_seconds() // 60))


def _time(value: datetime) -> str:
    return auth.aware(value).strftime("%Y-%m-%d %H:%M UTC")


# --- sign-in ------------------------------------------------------------------------------

def _login_page(error: str | None = None, status_code: int = 200) -> HTMLResponse:
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    form = (
        '<form method="post" action="/console/login" class="login">'
        '<label for="username">Username / Användarnamn</label>'
        '<input id="username" name="username" autocomplete="username" required maxlength="64">'
        '<label for="password">Password / Lösenord</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" '
        'required maxlength="1024">'
        '<button type="submit">Sign in / Logga in</button></form>'
    )
    return page("Sign in / Logga in", err + form, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return _login_page()


@router.post("/login")
def login(request: Request, db: DatabaseDep, settings: SettingsDep,
          username: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=1024)] = "") -> Response:
    now = auth.clock(request)
    with db.session() as s:
        staff = auth.authenticate(s, username=username, password=password, now=now)
        token = auth.start_session(s, staff, now) if staff is not None else None
    if token is None:
        return _login_page(auth.GENERIC_ERROR, status_code=401)
    response = _see_other("/console")
    response.set_cookie(auth.COOKIE, token, max_age=int(auth.SESSION_LIFETIME.total_seconds()),
                        path=auth.COOKIE_PATH, httponly=True, samesite="strict",
                        secure=settings.environment == "production")
    return response


@router.post("/logout")
def logout(request: Request, who: PostStaff, db: DatabaseDep, settings: SettingsDep) -> Response:
    with db.session() as s:
        auth.end_session(s, who.session_id)
        audit(s, actor=who.actor, action="sign_out", now=auth.clock(request))
    response = _see_other("/console/login")
    response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH, httponly=True, samesite="strict",
                           secure=settings.environment == "production")
    return response


# --- the queue ----------------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
def queue(request: Request, who: PageStaff, db: DatabaseDep) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        query = (select(Escalation).where(Escalation.state.in_(OPEN_STATES))
                 .order_by(case((Escalation.urgency == "danger", 0), else_=1),
                           Escalation.created_at, Escalation.id))
        if not who.is_admin:
            query = query.where(Escalation.region_code == who.region_code)
        rows = s.scalars(query).all()
        regions = {code: name for code, name in s.execute(select(Region.code, Region.name))}
        audit(s, actor=who.actor, action="viewed_queue", detail=f"open={len(rows)}", now=now)
        banner = paging_banner(s, now, who)  # paging caps reached (gateway.console.blocks)
    lines = []
    for esc in rows:
        urgent = esc.urgency == "danger"
        lines.append(
            f'<tr class="{"danger" if urgent else "normal"}">'
            f'<td><a href="{_view_url(esc.id)}">{e(esc.reference)}</a></td>'
            f'<td>{e(regions.get(esc.region_code, esc.region_code or "?"))}</td>'
            f'<td>{"DANGER / FARA" if urgent else "normal"}</td>'
            f'<td>{e(esc.state)}</td><td>{_minutes(now, esc.created_at)}</td></tr>')
    scope = ("all regions" if who.is_admin
             else f"region {regions.get(who.region_code, who.region_code)}")
    if lines:
        body = ('<table class="queue"><thead><tr><th>Reference</th><th>Region</th><th>Urgency</th>'
                '<th>State</th><th>Age (min)</th></tr></thead><tbody>'
                + "".join(lines) + "</tbody></table>")
    else:
        body = '<p class="empty">No open requests. / Inga öppna ärenden.</p>'
    return page(f"Open requests ({scope})", banner + body, who=who.name, csrf=who.csrf)


# --- one request --------------------------------------------------------------------------

def machine_translation(translator: Translator, text: str,
                        source: str | None) -> tuple[str | None, str | None]:
    """(language, Swedish or else English machine translation) for the coordinator;
    (language, None) when the original is already in it; (None, NO_MT) when impossible."""
    if not source:
        return None, NO_MT
    for target in ("sv", "en"):
        if source == target:
            return target, None
        try:
            if translator.can_translate(source, target):
                return target, translator.translate(text, source, target)
        except Exception:  # noqa: BLE001 - a broken model must not break the page
            log.warning("console: machine translation %s->%s failed", source, target)
    return None, NO_MT


def _message_rows(messages: list[Message], conversation: Conversation,
                  translator: Translator) -> str:
    rows = []
    for m in messages:
        source = m.language or conversation.language
        target, translated = machine_translation(translator, m.text, source)
        who = "Person" if m.direction == "inbound" else (
            "Coordinator / Samordnare" if m.response_name == "coordinator_reply" else "Rightsline")
        mt_note = (' <span class="mt-flag">(sent machine translated)</span>'
                   if m.is_machine_translated else "")
        if translated is None:
            translation_cell = f'<td class="mt same">(original in {e(target)})</td>'
        else:
            translation_cell = (
                f'<td class="mt"><span class="mt-label">{MT_LABEL}</span>'
                f'<span class="text"{lang_attrs(target)}>{e(translated)}</span></td>')
        rows.append(
            f'<tr class="{e(m.direction)}"><td class="meta">{e(who)} ({e(m.direction)})<br>'
            f'<time>{e(_time(m.created_at))}</time><br><span class="lang">{e(source or "?")}</span>'
            f'{mt_note}</td>'
            f'<td class="original"><span class="text"{lang_attrs(source)}>{e(m.text)}</span></td>'
            f'{translation_cell}</tr>')
    if not rows:
        return '<p class="empty">No messages.</p>'
    return ('<table class="conversation"><thead><tr><th>Who / when</th><th>Original</th>'
            f'<th>{MT_LABEL}</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


@router.get("/escalations/{escalation_id}", response_class=HTMLResponse)
def view(request: Request, escalation_id: int, who: PageStaff, db: DatabaseDep,
         translator: TranslatorDep) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        escalation = _visible(s, who, escalation_id)
        if escalation is None:
            return _not_found(who)
        conversation = conversation_of(s, escalation)
        messages = list(conversation.messages) if conversation is not None else []
        region = s.get(Region, escalation.region_code) if escalation.region_code else None
        acknowledged_by = (s.get(StaffUser, escalation.acknowledged_by)
                           if escalation.acknowledged_by else None)
        audit(s, actor=who.actor, action="viewed", escalation_id=escalation.id, now=now)
        details = (
            '<dl class="details">'
            f'<dt>Reference</dt><dd>{e(escalation.reference)}</dd>'
            f'<dt>Region</dt><dd>{e(region.name if region else escalation.region_code or "?")}</dd>'
            f'<dt>Urgency</dt><dd class="{e(escalation.urgency)}">'
            f'{"DANGER / FARA" if escalation.urgency == "danger" else "normal"}</dd>'
            f'<dt>Reason</dt><dd>{e(escalation.reason)}</dd>'
            f'<dt>State</dt><dd>{e(escalation.state)}</dd>'
            f'<dt>Age</dt><dd>{_minutes(now, escalation.created_at)} min</dd>'
            f'<dt>May contact</dt><dd>{"yes / ja" if escalation.may_contact else "no / nej"}</dd>'
            + (f'<dt>Acknowledged by</dt><dd>{e(acknowledged_by.name)}</dd>'
               if acknowledged_by else "")
            + (f'<dt>Outcome</dt><dd>{e(escalation.outcome)}</dd>' if escalation.outcome else "")
            + (f'<dt>Channel</dt><dd>{e(conversation.channel)}, language '
               f'{e(conversation.language or "?")}</dd>' if conversation else "")
            + "</dl>")
        if conversation is None:
            history = '<p class="empty">The conversation has been erased.</p>'
        else:
            history = _message_rows(messages, conversation, translator)
        state, may_contact = escalation.state, escalation.may_contact
        reference = escalation.reference
    url = _view_url(escalation_id)
    actions = []
    if state not in ("acknowledged", "closed"):
        actions.append(post_form(f"{url}/ack", who.csrf, "", "Acknowledge / Kvittera", "ack"))
    if state != "closed":
        if not may_contact:
            actions.append(f'<p class="notice">No replies: {NO_CONTACT}.</p>')
        elif conversation is None:
            actions.append('<p class="notice">No replies: the conversation has been erased.</p>')
        else:
            inner = ('<label for="text">Reply / Svar (1–2000 characters; machine translated '
                     'into the person\'s language)</label>'
                     f'<textarea id="text" name="text" rows="5" required maxlength="{MAX_REPLY}">'
                     '</textarea>'
                     + select_field("lang", list(REPLY_LANGUAGES), "Written in / Skrivet på"))
            actions.append(post_form(f"{url}/reply", who.csrf, inner,
                                     "Send reply / Skicka svar", "reply"))
    if state != "closed":
        inner = select_field("outcome", [(o, o.replace("_", " ")) for o in sorted(OUTCOMES)],
                             "Outcome / Utfall")
        actions.append(post_form(f"{url}/close", who.csrf, inner, "Close / Avsluta", "close"))
    if conversation is not None:  # a time-limited block (gateway.console.blocks)
        actions.append(block_form(who.csrf, escalation_id))
    body = (details + '<h2>Conversation / Samtal</h2>' + history
            + '<h2>Actions / Åtgärder</h2>' + "".join(actions))
    return page(f"Request {reference}", body, who=who.name, csrf=who.csrf)


@router.post("/escalations/{escalation_id}/ack")
def acknowledge(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep) -> Response:
    try:
        with db.session() as s:
            escalation = _visible(s, who, escalation_id)
            if escalation is None:
                return _not_found(who)
            staff = s.get(StaffUser, who.staff_id)
            _escalations(request).acknowledge(s, reference=escalation.reference, staff=staff)
    except EscalationError as exc:
        return _conflict(who, escalation_id, str(exc))
    return _see_other(_view_url(escalation_id))


@router.post("/escalations/{escalation_id}/reply")
def reply(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep,
          settings: SettingsDep, translator: TranslatorDep, catalog: CatalogDep,
          text: Annotated[str, Form(max_length=MAX_REPLY * 2)] = "",
          lang: Annotated[str, Form(max_length=8)] = "sv") -> Response:
    text = text.strip()
    if not 1 <= len(text) <= MAX_REPLY:
        return _conflict(who, escalation_id, f"The reply must be 1–{MAX_REPLY} characters.", 400)
    if lang not in dict(REPLY_LANGUAGES):
        return _conflict(who, escalation_id, "Write the reply in Swedish or English.", 400)
    now = auth.clock(request)
    with db.session() as s:
        escalation = _visible(s, who, escalation_id)
        if escalation is None:
            return _not_found(who)
        if escalation.state == "closed":
            return _conflict(who, escalation_id, "This request is closed.")
        if not escalation.may_contact:
            return _conflict(who, escalation_id, NO_CONTACT[0].upper() + NO_CONTACT[1:] + ".")
        conversation = conversation_of(s, escalation)
        if conversation is None:
            return _conflict(who, escalation_id, "The conversation has been erased.")
        target = conversation.language or settings.default_language
        delivered, language, translated = text, lang, False
        if target != lang:
            try:
                if translator.can_translate(lang, target):
                    delivered = translator.translate(text, lang, target)
                    language, translated = target, True
            except Exception:  # noqa: BLE001 - send the original rather than nothing
                log.warning("console: reply translation %s->%s failed; sending the original",
                            lang, target)
        else:
            language = target
        # Kept and shown on the web as written; the web page puts its own label beside it.
        record_message(s, conversation, direction="outbound", text=delivered, language=language,
                       response_name="coordinator_reply", is_machine_translated=translated)
        queued = 0
        if (conversation.channel == "sms" and conversation.sender_encrypted
                and not conversation.is_opted_out):
            body = delivered
            if translated:
                body = f"[{catalog.render(SMS_MT_LABEL, language, 'web')}] {delivered}"
            for part in split_message(body):
                outbox.enqueue(s, conversation_id=conversation.id,
                               to_encrypted=conversation.sender_encrypted, body=part)
                queued += 1
        audit(s, actor=who.actor, action="replied", escalation_id=escalation.id,
              detail=f"reply len={len(text)} translated={translated} sms_parts={queued}", now=now)
    return _see_other(_view_url(escalation_id))


@router.post("/escalations/{escalation_id}/close")
def close(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep,
          outcome: Annotated[str, Form(max_length=64)] = "") -> Response:
    if outcome not in OUTCOMES:
        return _conflict(who, escalation_id, "Choose an outcome from the list.", 400)
    try:
        with db.session() as s:
            escalation = _visible(s, who, escalation_id)
            if escalation is None:
                return _not_found(who)
            staff = s.get(StaffUser, who.staff_id)
            _escalations(request).close(s, escalation_id=escalation.id, staff=staff,
                                        outcome=outcome)
    except EscalationError as exc:
        return _conflict(who, escalation_id, str(exc))
    return _see_other(_view_url(escalation_id))
