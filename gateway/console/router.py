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

from gateway.config import Settings
from gateway.console import auth, totp
from gateway.console.auth import PageStaff, PostStaff, SignedIn
from gateway.console.blocks import block_form, paging_banner
from gateway.console.html import e, lang_attrs, message_page, page, post_form
from gateway.console.html import select as select_field
from gateway.console.models import ConsoleSession
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
         translator: TranslatorDep) -> HTMLResponse:
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
            if held_back:
                history += ('<p class="notice">Messages written after this request was closed '
                            'are not shown. / Meddelanden efter att ärendet stängdes visas '
                            'inte.</p>')
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
