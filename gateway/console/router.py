"""The coordinator console's pages and actions. Every view and action is audited; phone
numbers are never decrypted or shown here (the SMS outbox gets the encrypted number)."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import case, select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.console import auth, totp
from gateway.console.auth import PageStaff, PostStaff, SignedIn
from gateway.console.blocks import block_form, paging_banner
from gateway.console.html import (
    ConsoleRoute,
    e,
    lang_attrs,
    local_time,
    message_page,
    page,
    post_form,
)
from gateway.console.html import select as select_field
from gateway.console import replies
from gateway.console.models import ConsoleSession
from gateway.console.paging_state import acknowledged_text, coverage_warnings, paging_story
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
from gateway.messaging import outbox
from gateway.messaging.segments import split_message
from gateway.nlg.router import runtime_values
from translations.catalog import Catalog, UnknownResponse
from translations.mt import Translator

log = logging.getLogger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

OPEN_STATES = ("requested", "notified", "acknowledged", "fallback")
REPLY_LANGUAGES = (("sv", "Svenska"), ("en", "English"))
MAX_REPLY = 2000
MT_LABEL = "Maskinöversatt / Machine translated"
NO_MT = "(no machine translation available)"
# An SMS has no label beside it: the person's own word for "machine translated" goes first.
SMS_MT_LABEL = "ui_machine_translated"
NO_CONTACT = "the person did not agree to be contacted on this channel"
# Codes in words (the database keeps the codes).
REASON_WORDS = {
    "request_human": "The person asked to talk to a person / Personen bad att få prata med en människa",
    "emergency_danger": "The person may be in danger now / Personen kan vara i fara nu",
}
OUTCOME_WORDS = {
    "referred_social_services": "Referred to social services / Hänvisad till socialtjänsten",
    "referred_police": "Referred to the police / Hänvisad till polisen",
    "referred_ngo": "Referred to an organisation / Hänvisad till en organisation",
    "information_given": "Information given / Information lämnad",
    "no_contact": "No contact reached / Ingen kontakt",
    "duplicate": "Duplicate of another request / Dubblett av ett annat ärende",
    "other": "Other / Annat",
}
CLOSE_CONFIRM = ("I understand the person goes back to the assistant (the bot) / "
                 "Jag förstår att personen går tillbaka till assistenten")
PREVIEW_CHARS = 60
ACTIONS_ANCHOR = "#actions"


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
    return local_time(value)  # Europe/Stockholm


def _words(table: dict[str, str], code: str | None) -> str:
    return table.get(code or "", (code or "").replace("_", " "))


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
        '<label for="code">Code from your authenticator app, or a recovery code (leave empty '
        'the first time) / Kod från autentiseringsappen, eller en reservkod</label>'
        '<input id="code" name="code" autocomplete="one-time-code" maxlength="32" '
        'spellcheck="false">'
        '<button type="submit">Sign in / Logga in</button></form>'
    )
    return page("Sign in / Logga in", err + form, status_code=status_code)


def _set_cookie(response: Response, token: str, settings: Settings, *,
                enrol_only: bool) -> None:
    lifetime = auth.ENROL_LIFETIME if enrol_only else auth.SESSION_LIFETIME
    response.set_cookie(auth.COOKIE, token, max_age=int(lifetime.total_seconds()),
                        path=auth.COOKIE_PATH, httponly=True, samesite="strict",
                        secure=settings.environment == "production")


@router.get("/login", response_class=HTMLResponse)
def login_form() -> HTMLResponse:
    return _login_page()


@router.post("/login")
def login(request: Request, db: DatabaseDep, settings: SettingsDep,
          username: Annotated[str, Form(max_length=200)] = "",
          password: Annotated[str, Form(max_length=1024)] = "",
          code: Annotated[str, Form(max_length=64)] = "") -> Response:
    result, token = auth.sign_in(
        db, client=auth.request_client_hash(request), username=username, password=password,
        code=code, now=auth.clock(request), box=auth.secret_box(settings),
        policy=auth.SignInPolicy.from_settings(settings))
    if result.outcome == "throttled":
        return _login_page(auth.THROTTLED_ERROR, status_code=429)
    if token is None:
        return _login_page(auth.GENERIC_ERROR, status_code=401)
    enrol = result.outcome == "enrol"
    response = _see_other(auth.ENROL_URL if enrol or result.used_recovery_code else "/console")
    _set_cookie(response, token, settings, enrol_only=enrol)
    return response


@router.post("/logout")
def logout(request: Request, who: auth.AnyPostStaff, db: DatabaseDep,
           settings: SettingsDep) -> Response:
    now = auth.clock(request)
    with db.session() as s:
        auth.end_session(s, who.session_id)
        audit(s, actor=who.actor, action="sign_out", now=now)
    auth.purge(db, now)
    response = _see_other("/console/login")
    response.delete_cookie(auth.COOKIE, path=auth.COOKIE_PATH, httponly=True, samesite="strict",
                           secure=settings.environment == "production")
    return response


# --- the second factor --------------------------------------------------------------------

def _enrol_page(who: SignedIn, secret: str, error: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    err = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
    inner = ('<label for="code">The 6-digit code the app shows now / Koden som appen visar nu'
             '</label><input id="code" name="code" inputmode="numeric" '
             'autocomplete="one-time-code" required maxlength="8" spellcheck="false">')
    body = (
        err
        + '<p>Every console sign-in needs a code from an authenticator app on your work phone '
          '(any TOTP app). Add this key to the app now: it is shown only once. '
          '/ Varje inloggning kräver en kod från en autentiseringsapp. Nyckeln visas bara en gång.'
          '</p>'
        + f'<p>Key / Nyckel: <code class="secret">{e(totp.grouped(secret))}</code></p>'
        + '<p>Or paste this link into the app / Eller klistra in länken: '
          f'<code class="secret">{e(totp.otpauth_uri(secret, who.username))}</code></p>'
        + post_form(auth.ENROL_URL, who.csrf, inner, "Confirm / Bekräfta", "enrol"))
    return page("Set up the second factor / Tvåstegsverifiering", body, who=who.name,
                csrf=who.csrf, status_code=status_code)


def _codes_page(who: SignedIn, codes: list[str], csrf: str) -> HTMLResponse:
    items = "".join(f"<li><code>{e(c)}</code></li>" for c in codes)
    body = ('<p>Recovery codes: each signs you in once in place of an app code (a lost phone). '
            'Write them down now and keep them safe: they are not shown again. '
            '/ Reservkoder: var och en gäller en gång. De visas inte igen.</p>'
            f'<ul class="recovery-codes">{items}</ul>'
            '<p><a href="/console">Continue to the console / Till konsolen</a></p>')
    return page("Recovery codes / Reservkoder", body, who=who.name, csrf=csrf)


@router.get("/second-factor", response_class=HTMLResponse)
def second_factor(request: Request, who: auth.AnyPageStaff, db: DatabaseDep,
                  settings: SettingsDep) -> HTMLResponse:
    with db.session() as s:
        if not auth.has_second_factor(s, who.staff_id):
            secret = auth.begin_enrolment(s, who.staff_id, auth.secret_box(settings))
            audit(s, actor=who.actor, action="second_factor_shown", now=auth.clock(request))
            return _enrol_page(who, secret)
        left = auth.recovery_codes_left(s, who.staff_id)
    warning = (' <strong class="error">Make new ones now.</strong>' if left <= 3 else "")
    body = (f'<p>Your second factor is set up. Unused recovery codes: {left}.{warning}</p>'
            '<p>A new phone, or a lost one: ask an administrator to reset your second factor. '
            '/ Ny eller förlorad telefon: be en administratör återställa den.</p>'
            + post_form(f"{auth.ENROL_URL}/recovery-codes", who.csrf, "",
                        "Make new recovery codes (the old ones stop working) / Nya reservkoder")
            + '<p><a href="/console">Queue / Kö</a></p>')
    return page("Second factor / Tvåstegsverifiering", body, who=who.name, csrf=who.csrf)


@router.post("/second-factor", response_class=HTMLResponse)
def confirm_second_factor(request: Request, who: auth.AnyPostStaff, db: DatabaseDep,
                          settings: SettingsDep,
                          code: Annotated[str, Form(max_length=64)] = "") -> Response:
    now, box = auth.clock(request), auth.secret_box(settings)
    with db.session() as s:
        if auth.has_second_factor(s, who.staff_id):
            return message_page("Not done / Inte utfört", "The second factor is already set up.",
                                status_code=409, back=auth.ENROL_URL, who=who.name,
                                csrf=who.csrf)
        codes = auth.confirm_enrolment(s, who.staff_id, code, now, box)
        if codes is None:
            audit(s, actor=who.actor, action="second_factor_failed", now=now)
            secret = auth.begin_enrolment(s, who.staff_id, box)
            error = ("Wrong code. Here is a new key: replace the old one in the app. "
                     "/ Fel kod. Här är en ny nyckel.")
        else:
            # A new session (new cookie and CSRF token) replaces the enrolment-only one.
            auth.end_session(s, who.session_id)
            token = auth.start_session(s, who.staff_id, now)
            csrf = s.scalar(select(ConsoleSession.csrf_token)
                            .where(ConsoleSession.token_hash == auth.hash_token(token)))
            audit(s, actor=who.actor, action="second_factor_enrolled", now=now)
    if codes is None:
        return _enrol_page(who, secret, error, status_code=422)
    response = _codes_page(who, codes, csrf)
    _set_cookie(response, token, settings, enrol_only=False)
    return response


@router.post("/second-factor/recovery-codes", response_class=HTMLResponse)
def new_recovery_codes(request: Request, who: PostStaff, db: DatabaseDep) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        codes = auth.replace_recovery_codes(s, who.staff_id, now)
        audit(s, actor=who.actor, action="recovery_codes_replaced", now=now)
    return _codes_page(who, codes, who.csrf)


# --- the queue ----------------------------------------------------------------------------

def _open_requests(s: Session, who: SignedIn) -> list[Escalation]:
    query = (select(Escalation).where(Escalation.state.in_(OPEN_STATES))
             .order_by(case((Escalation.urgency == "danger", 0), else_=1),
                       Escalation.created_at, Escalation.id))
    if not who.is_admin:
        query = query.where(Escalation.region_code == who.region_code)
    return list(s.scalars(query).all())


def _latest_inbound(s: Session, conversation_id: str | None) -> Message | None:
    if conversation_id is None:
        return None
    return s.scalar(select(Message).where(Message.conversation_id == conversation_id,
                                          Message.direction == "inbound")
                    .order_by(Message.id.desc()).limit(1))


def _holders(s: Session, rows: list[Escalation]) -> dict[int, str]:
    ids = {esc.acknowledged_by for esc in rows if esc.acknowledged_by}
    if not ids:
        return {}
    return dict(s.execute(select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(ids))).all())


def _preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS - 1].rstrip() + "…"


def _queue_signature(rows: list[Escalation], latest: dict[int, int | None]) -> str:
    """Changes when a request comes, goes, changes state or urgency, or the person writes."""
    parts = [f"{x.id}:{x.state}:{x.urgency}:{x.acknowledged_by}:{latest.get(x.id)}" for x in rows]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@router.get("", response_class=HTMLResponse)
def queue(request: Request, who: PageStaff, db: DatabaseDep) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        rows = _open_requests(s, who)
        regions = {code: name for code, name in s.execute(select(Region.code, Region.name))}
        holders = _holders(s, rows)
        languages = dict(s.execute(select(Conversation.id, Conversation.language).where(
            Conversation.id.in_([x.conversation_id for x in rows if x.conversation_id]))).all())
        latest = {x.id: _latest_inbound(s, x.conversation_id) for x in rows}
        audit(s, actor=who.actor, action="viewed_queue", detail=f"open={len(rows)}", now=now)
        banner = paging_banner(s, now, who)  # paging caps reached (gateway.console.blocks)
        banner += coverage_warnings(s, now, who.region_code, who.is_admin,
                                    _escalations(request).policy)
        lines = []
        for esc in rows:
            urgent = esc.urgency == "danger"
            language = languages.get(esc.conversation_id or "")
            message = latest[esc.id]
            preview = (f'<span{lang_attrs(message.language or language)}>'
                       f'{e(_preview(message.text))}</span>' if message is not None
                       else '<span class="empty">–</span>')
            held = holders.get(esc.acknowledged_by or 0)
            lines.append(
                f'<tr class="{"danger" if urgent else "normal"}">'
                f'<td data-label="Reference"><a href="{_view_url(esc.id)}">{e(esc.reference)}</a></td>'
                f'<td data-label="Urgency">{"DANGER / FARA" if urgent else "normal"}</td>'
                f'<td data-label="Latest message" class="preview">{preview}</td>'
                f'<td data-label="Language">{e(language or "?")}</td>'
                f'<td data-label="Age">{_minutes(now, esc.created_at)} min</td>'
                f'<td data-label="Held by">{e(held) if held else "nobody yet / ingen än"}</td>'
                f'<td data-label="State">{e(esc.state)}</td>'
                f'<td data-label="Region">{e(regions.get(esc.region_code, esc.region_code or "?"))}'
                '</td></tr>')
    scope = ("all regions" if who.is_admin
             else f"region {regions.get(who.region_code, who.region_code)}")
    if lines:
        body = ('<table class="queue stack"><thead><tr><th>Reference</th><th>Urgency</th>'
                '<th>Latest message / Senaste meddelande</th><th>Language</th><th>Age</th>'
                '<th>Held by / Hanteras av</th><th>State</th><th>Region</th></tr></thead><tbody>'
                + "".join(lines) + "</tbody></table>")
    else:
        body = '<p class="empty">No open requests. / Inga öppna ärenden.</p>'
    body = (f'<div id="queue" data-live-part>{banner}{body}'
            '<p class="small">Times are Swedish time (Europe/Stockholm); the town a person '
            'named is shown as its region. / Tider i svensk tid.</p></div>')
    return page(f"Open requests ({scope})", body, who=who.name, csrf=who.csrf,
                live="/console/api/queue-state", tab_title=f"({len(rows)}) Queue / Kö")


@router.get("/api/queue-state")
def queue_state(request: Request, db: DatabaseDep) -> Response:
    """For console.js: the open requests in the reader's regions, without any message text.
    Not audited (it is polled every few seconds); the page it leads to is."""
    who = _api_staff(request)
    if who is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    now = auth.clock(request)
    with db.session() as s:
        rows = _open_requests(s, who)
        holders = _holders(s, rows)
        latest = {}
        for esc in rows:
            message = _latest_inbound(s, esc.conversation_id)
            latest[esc.id] = message.id if message is not None else None
        requests = [{"id": x.id, "reference": x.reference, "urgency": x.urgency, "state": x.state,
                     "age_minutes": _minutes(now, x.created_at), "region": x.region_code,
                     "held_by": holders.get(x.acknowledged_by or 0)} for x in rows]
    return JSONResponse({"open": len(rows), "danger": sum(x.urgency == "danger" for x in rows),
                         "signature": _queue_signature(rows, latest), "requests": requests})


def _api_staff(request: Request) -> SignedIn | None:
    who = auth.lookup(request.app.state.db, request.cookies.get(auth.COOKIE), auth.clock(request))
    return None if who is None or who.enrol_only else who


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
                  translator: Translator, catalog: Catalog | None = None,
                  values: dict[str, object] | None = None) -> str:
    rows = []
    for m in messages:
        source = m.language or conversation.language
        # The bot's own texts (and coordinator phrases) exist in Swedish in the catalog:
        # shown from there; machine translation only for what people wrote.
        swedish = (replies.swedish_of_outbound(catalog, m, conversation.channel, values or {})
                   if catalog is not None else None)
        target, translated = ((None, None) if swedish is not None
                              else machine_translation(translator, m.text, source))
        who = "Person" if m.direction == "inbound" else (
            "Coordinator / Samordnare" if m.response_name == "coordinator_reply" else "Rightsline")
        mt_note = (' <span class="mt-flag">(sent machine translated)</span>'
                   if m.is_machine_translated else "")
        if swedish is not None:
            translation_cell = (
                f'<td class="mt catalog"><span class="mt-label">{e(replies.BOT_LABEL)}</span>'
                f'<span class="text"{lang_attrs("sv")}>{e(swedish)}</span></td>')
        elif translated is None:
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
            '<th>In Swedish / På svenska</th></tr></thead><tbody>' + "".join(rows)
            + "</tbody></table>")


def readable_messages(s: Session, who: SignedIn, escalation: Escalation,
                      conversation: Conversation) -> tuple[list[Message], bool]:
    """What a request lets staff read: while it is open, the conversation (the person was
    told the coordinator sees it); once closed, only the conversation up to the close, plus
    the time any later request of this conversation (that the reader may see) was open.
    Returns (messages, whether any were held back)."""
    closed_at = auth.aware(escalation.closed_at)
    if closed_at is None:
        return list(conversation.messages), False
    windows: list[tuple[datetime | None, datetime | None]] = [(None, closed_at)]
    later = s.scalars(select(Escalation).where(
        Escalation.conversation_id == conversation.id, Escalation.id != escalation.id,
        Escalation.created_at >= escalation.created_at)).all()
    windows += [(auth.aware(x.created_at), auth.aware(x.closed_at))
                for x in later if who.may_see(x.region_code)]

    def readable(m: Message) -> bool:
        at = auth.aware(m.created_at)
        return any((start is None or at >= start) and (end is None or at <= end)
                   for start, end in windows)

    shown = [m for m in conversation.messages if readable(m)]
    return shown, len(shown) < len(conversation.messages)


@router.get("/escalations/{escalation_id}", response_class=HTMLResponse)
def view(request: Request, escalation_id: int, who: PageStaff, db: DatabaseDep,
         translator: TranslatorDep, catalog: CatalogDep, settings: SettingsDep) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        escalation = _visible(s, who, escalation_id)
        if escalation is None:
            return _not_found(who)
        conversation = conversation_of(s, escalation)
        messages, held_back = (readable_messages(s, who, escalation, conversation)
                               if conversation is not None else ([], False))
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
            f'<dt>Reason</dt><dd>{e(_words(REASON_WORDS, escalation.reason))}</dd>'
            f'<dt>State</dt><dd>{e(escalation.state)}</dd>'
            f'<dt>Age</dt><dd>{_minutes(now, escalation.created_at)} min</dd>'
            f'<dt>May contact</dt><dd>{"yes / ja" if escalation.may_contact else "no / nej"}</dd>'
            + (f'<dt>Acknowledged by</dt><dd>{e(acknowledged_by.name)}</dd>'
               if acknowledged_by else "")
            + (f'<dt>Outcome</dt><dd>{e(_words(OUTCOME_WORDS, escalation.outcome))}</dd>'
               if escalation.outcome else "")
            + (f'<dt>Channel</dt><dd>{e(conversation.channel)}, language '
               f'{e(conversation.language or "?")}</dd>' if conversation else "")
            + "</dl>")
        if conversation is None:
            history = '<p class="empty">The conversation has been erased.</p>'
        else:
            history = _message_rows(messages, conversation, translator, catalog,
                                    runtime_values(settings))
            if held_back:
                history += ('<p class="notice">Messages written after this request was closed '
                            'are not shown. / Meddelanden efter att ärendet stängdes visas '
                            'inte.</p>')
        state, may_contact = escalation.state, escalation.may_contact
        reference = escalation.reference
        policy = _escalations(request).policy
        story = paging_story(s, escalation, now, policy) + coverage_warnings(
            s, now, escalation.region_code, True, policy)
        person_language = ((conversation.language or settings.default_language)
                           if conversation is not None else None)
        channel = conversation.channel if conversation is not None else "web"
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
            actions.append(replies.reply_section(f"{url}/reply", who.csrf, catalog, translator,
                                                 person_language, channel))
    if state != "closed":
        actions.append(_close_form(who, url))
    block = block_form(who.csrf, escalation_id) if conversation is not None else ""
    body = ('<section id="actions" class="actions" data-live-part>'
            '<h2>Actions / Åtgärder</h2>' + "".join(actions) + "</section>"
            + f'<section id="details" data-live-part>{details}{story}</section>'
            + '<h2>Conversation / Samtal</h2>'
            + f'<section id="conversation" data-live-part>{history}</section>'
            + (f'<section id="block"><h2>Block / Spärra</h2>{block}</section>' if block else ""))
    return page(f"Request {reference}", body, who=who.name, csrf=who.csrf,
                live=f"/console/api/escalations/{escalation_id}/state")


def _close_form(who: SignedIn, url: str, chosen: str | None = None) -> str:
    """Close hands the person back to the assistant: an outcome must be chosen (nothing
    preselected) and the coordinator confirms."""
    inner = (select_field("outcome", [(o, OUTCOME_WORDS.get(o, o)) for o in sorted(OUTCOMES)],
                          "Outcome / Utfall", chosen=chosen,
                          placeholder="Choose an outcome… / Välj utfall…")
             + '<label class="check"><input type="checkbox" name="confirm" value="yes" required> '
             + f"{e(CLOSE_CONFIRM)}</label>")
    return post_form(f"{url}/close", who.csrf, inner, "Close request / Avsluta ärendet",
                     "close")


@router.get("/api/escalations/{escalation_id}/state")
def request_state(request: Request, escalation_id: int, db: DatabaseDep) -> Response:
    """For console.js on a request's page: what changed (state, urgency, how many messages
    and the newest one's id), never the text. Region-limited like the page; not audited."""
    who = _api_staff(request)
    if who is None:
        return JSONResponse({"error": "sign in"}, status_code=401)
    with db.session() as s:
        escalation = _visible(s, who, escalation_id)
        if escalation is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        conversation = conversation_of(s, escalation)
        messages = (readable_messages(s, who, escalation, conversation)[0]
                    if conversation is not None else [])
        last_id = max((m.id for m in messages), default=None)
        open_count = len(_open_requests(s, who))
        danger = sum(x.urgency == "danger" for x in _open_requests(s, who))
        state = {"reference": escalation.reference, "state": escalation.state,
                 "urgency": escalation.urgency, "acknowledged_by": escalation.acknowledged_by,
                 "messages": len(messages), "last_message_id": last_id,
                 "erased": conversation is None}
    signature = hashlib.sha256(repr(sorted(state.items())).encode()).hexdigest()[:16]
    return JSONResponse({**state, "signature": signature, "open": open_count, "danger": danger})


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
        with db.session() as s:
            escalation = s.get(Escalation, escalation_id)
            held = acknowledged_text(s, escalation) if escalation is not None else ""
        return _conflict(who, escalation_id, f"{str(exc).capitalize()}. {held}".strip())
    return _see_other(_view_url(escalation_id) + ACTIONS_ANCHOR)


@router.post("/escalations/{escalation_id}/reply")
def reply(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep,
          settings: SettingsDep, translator: TranslatorDep, catalog: CatalogDep,
          text: Annotated[str, Form(max_length=MAX_REPLY * 2)] = "",
          lang: Annotated[str, Form(max_length=8)] = "sv",
          phrase: Annotated[str, Form(max_length=64)] = "",
          untranslated: Annotated[str, Form(max_length=8)] = "") -> Response:
    text = text.strip()
    if phrase:  # a ready-made phrase: the catalog's text in the person's language
        return _send_phrase(request, escalation_id, who, db, settings, catalog, phrase)
    if not 1 <= len(text) <= MAX_REPLY:
        return _refused(who, escalation_id, f"The reply must be 1–{MAX_REPLY} characters.",
                        text, lang, 400)
    if lang not in dict(REPLY_LANGUAGES):
        return _refused(who, escalation_id, "Write the reply in Swedish or English.", text, "sv",
                        400)
    now = auth.clock(request)
    with db.session() as s:
        escalation, conversation, refusal = _reply_target(s, who, escalation_id)
        if escalation is None:
            return _not_found(who)
        if refusal:
            return _refused(who, escalation_id, refusal, text, lang)
        target = conversation.language or settings.default_language
        delivered, language, translated, kind = text, lang, False, "same_language"
        if target != lang:
            kind = "untranslated"
            if replies.can_translate(translator, lang, target):
                try:
                    delivered = translator.translate(text, lang, target)
                    language, translated, kind = target, True, "translated"
                except Exception:  # noqa: BLE001 - then: no translation (never silently)
                    log.warning("console: reply translation %s->%s failed", lang, target)
            if kind == "untranslated":
                if untranslated != "yes":
                    # Never silently in a language the person did not choose.
                    page_ = page("Reply not sent / Svaret skickades inte", replies.reply_section(
                        f"{_view_url(escalation_id)}/reply", who.csrf, catalog, translator,
                        target, conversation.channel, text=text, written_in=lang,
                        error=(f"No translation into {replies.language_name(target)} is "
                               "available. Nothing was sent. Send a ready-made phrase, or tick "
                               "“send untranslated” to send your text as written. / Ingen "
                               "översättning finns. Inget skickades.")),
                        who=who.name, csrf=who.csrf, status_code=409)
                    audit(s, actor=who.actor, action="reply_refused", escalation_id=escalation.id,
                          detail=f"kind=untranslated from={lang} to={target} not confirmed",
                          now=now)
                    return page_
                # The person is told, in their language, that it was not translated.
                delivered = replies.untranslated_body(catalog, lang, target, text)
        queued = _deliver(s, conversation, catalog, delivered, language, translated)
        audit(s, actor=who.actor, action="replied", escalation_id=escalation.id,
              detail=(f"reply len={len(text)} translated={translated} kind={kind} "
                      f"from={lang} to={target} sms_parts={queued}"),
              now=now)
    return _see_other(_view_url(escalation_id) + ACTIONS_ANCHOR)


def _reply_target(s: Session, who: SignedIn, escalation_id: int
                  ) -> tuple[Escalation | None, Conversation | None, str | None]:
    """The request and conversation a reply would go to, and why it cannot go (None if it
    can). No request (None, None, None): not in the coordinator's region."""
    escalation = _visible(s, who, escalation_id)
    if escalation is None:
        return None, None, None
    if escalation.state == "closed":
        return escalation, None, "This request is closed."
    if not escalation.may_contact:
        return escalation, None, NO_CONTACT[0].upper() + NO_CONTACT[1:] + "."
    conversation = conversation_of(s, escalation)
    if conversation is None:
        return escalation, None, "The conversation has been erased."
    return escalation, conversation, None


def _sms_ok(conversation: Conversation) -> bool:
    return bool(conversation.channel == "sms" and conversation.sender_encrypted
                and not conversation.is_opted_out)


def _deliver(s: Session, conversation: Conversation, catalog: Catalog, delivered: str,
             language: str, translated: bool) -> int:
    # Kept and shown on the web as written; the web page puts its own label beside it.
    record_message(s, conversation, direction="outbound", text=delivered, language=language,
                   response_name="coordinator_reply", is_machine_translated=translated)
    if _sms_ok(conversation):
        body = delivered
        if translated:
            body = f"[{catalog.render(SMS_MT_LABEL, language, 'web')}] {delivered}"
        for part in split_message(body):
            outbox.enqueue(s, conversation_id=conversation.id,
                           to_encrypted=conversation.sender_encrypted, body=part)
        return len(split_message(body))
    return 0


def _send_phrase(request: Request, escalation_id: int, who: SignedIn, db, settings: Settings,
                 catalog: Catalog, phrase: str) -> Response:
    now = auth.clock(request)
    with db.session() as s:
        escalation, conversation, refusal = _reply_target(s, who, escalation_id)
        if escalation is None:
            return _not_found(who)
        if refusal:
            return _conflict(who, escalation_id, refusal)
        target = conversation.language or settings.default_language
        try:
            delivered = replies.phrase_text(catalog, phrase, target, conversation.channel)
        except UnknownResponse:
            return _conflict(who, escalation_id, "This ready-made reply does not exist in the "
                             "person's language. Nothing was sent.", 400)
        queued = _deliver(s, conversation, catalog, delivered, target, False)
        audit(s, actor=who.actor, action="replied", escalation_id=escalation.id,
              detail=(f"reply kind=phrase phrase={phrase} translated=False to={target} "
                      f"sms_parts={queued}"), now=now)
    return _see_other(_view_url(escalation_id) + ACTIONS_ANCHOR)


def _refused(who: SignedIn, escalation_id: int, reason: str, text: str, lang: str,
             status_code: int = 409) -> HTMLResponse:
    """A refused reply is a console page that keeps what the coordinator typed: in a form to
    correct and send again (400), or to copy (409: it cannot be sent to this request)."""
    url = _view_url(escalation_id)
    body = f'<p class="error" role="alert">{e(reason)} Nothing was sent. / Inget skickades.</p>'
    if status_code == 400:
        inner = ('<label for="text">Your reply (not sent) / Ditt svar (inte skickat)</label>'
                 f'<textarea id="text" name="text" rows="6" required maxlength="{MAX_REPLY}">'
                 f'{e(text)}</textarea>'
                 + select_field("lang", list(REPLY_LANGUAGES), "Written in / Skrivet på",
                                chosen=lang))
        body += post_form(f"{url}/reply", who.csrf, inner, "Send reply / Skicka svar",
                          "reply primary")
    elif text.strip():
        body += ('<label for="kept">What you typed (not sent) / Det du skrev (inte skickat)'
                 f'</label><textarea id="kept" rows="6" readonly>{e(text)}</textarea>')
    body += f'<p><a href="{e(url)}">Back to the request / Tillbaka till ärendet</a></p>'
    return page("Reply not sent / Svaret skickades inte", body, who=who.name, csrf=who.csrf,
                status_code=status_code)


@router.post("/escalations/{escalation_id}/close")
def close(request: Request, escalation_id: int, who: PostStaff, db: DatabaseDep,
          outcome: Annotated[str, Form(max_length=64)] = "",
          confirm: Annotated[str, Form(max_length=8)] = "") -> Response:
    url = _view_url(escalation_id)
    try:
        with db.session() as s:
            escalation = _visible(s, who, escalation_id)
            if escalation is None:
                return _not_found(who)
            if escalation.state == "closed":
                return _conflict(who, escalation_id, "This request is already closed.")
            if outcome not in OUTCOMES or confirm != "yes":
                # The second step: choose an outcome and confirm (also the page a browser
                # without the form's `required` checks gets).
                text = ("Choose an outcome from the list. / Välj ett utfall i listan."
                        if outcome not in OUTCOMES else
                        "Confirm: closing hands the person back to the assistant (the bot). "
                        "/ Bekräfta: personen går tillbaka till assistenten.")
                body = (f'<p class="notice" role="alert">{e(text)}</p>'
                        + _close_form(who, url, outcome if outcome in OUTCOMES else None)
                        + f'<p><a href="{e(url)}">Back, keep it open / Tillbaka</a></p>')
                return page(f"Close request {escalation.reference}? / Avsluta ärendet?", body,
                            who=who.name, csrf=who.csrf,
                            status_code=400 if outcome not in OUTCOMES else 200)
            staff = s.get(StaffUser, who.staff_id)
            _escalations(request).close(s, escalation_id=escalation.id, staff=staff,
                                        outcome=outcome)
    except EscalationError as exc:
        return _conflict(who, escalation_id, str(exc))
    return _see_other(url + ACTIONS_ANCHOR)
