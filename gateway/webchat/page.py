"""The web chat page a person opens from an outreach worker's QR card (/?lang=ro&src=team-north).

Rendered on the server in the person's language, so it works on a cheap phone, on a slow
connection and without JavaScript: the form posts to /chat, the server takes the turn and
answers with the whole conversation so far. With JavaScript (static/chat.js) the same page
talks to the JSON API instead and fetches later messages (a coordinator's replies) by itself.

Nothing is left on the phone: no cookies, no storage; the conversation id travels in hidden
fields only. Every dynamic string goes through html.escape. No inline script or style (the
CSP forbids both), no web font, nothing from another site but the quick-exit link.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.abuse.web import guard_of
from gateway.conversations.service import UnknownConversation, get_conversation, list_messages
from gateway.conversations.turn import (
    TurnContext,
    erase_conversation,
    fixed_messages,
    resume_message,
    take_turn,
)
from gateway.models import Message
from gateway.webchat.router import find_original
from gateway.webchat.schemas import (
    MAX_MESSAGE_CHARS,
    STATUS_RESPONSES,
    WebchatMessageIn,
    clean_text,
    message_kind,
)
from translations.catalog import Catalog
from translations.languages import CORE_LANGUAGES, RTL_LANGUAGES

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# Every text on the page, in the catalog as "<name>|web" in every core language
# (tests/unit/test_catalog.py checks).
UI_STRINGS = frozenset({
    "ui_title", "ui_anonymous", "ui_emergency", "ui_quick_exit", "ui_quick_exit_hint",
    "ui_language", "ui_choose_language", "ui_conversation", "ui_you", "ui_bot",
    "ui_coordinator", "ui_machine_translated", "ui_status_joined", "ui_status_left",
    "ui_message_label", "ui_send", "ui_refresh", "ui_nojs_note", "ui_delete", "ui_deleted",
    "ui_connection_lost", "ui_not_sent", "ui_error_empty", "ui_error_too_long", "ui_error_gone",
})
# Strings the script needs (as data-t-<name> attributes on <main>).
SCRIPT_STRINGS = ("you", "bot", "coordinator", "machine_translated", "status_joined",
                  "status_left", "connection_lost", "not_sent", "error_empty",
                  "error_too_long", "error_gone", "deleted")
# A status message that gets a visible label of its own.
STATUS_LABELS = {"utter_handoff_acknowledged": "ui_status_joined",
                 "utter_handoff_closed": "ui_status_left"}
assert set(STATUS_LABELS) <= STATUS_RESPONSES


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def served_languages(ctx: TurnContext) -> list[str]:
    """The languages the page is offered in: core languages with a catalog that the line
    serves (only reviewed ones when the deployment says so); at least the default language."""
    return [code for code in CORE_LANGUAGES
            if ctx.catalog.has_language(code) and ctx.supports(code)] or [ctx.default_language]


def page_language(ctx: TurnContext, value: str | None) -> str | None:
    code = (value or "").split("-")[0].strip().lower()
    return code if code in served_languages(ctx) else None


def clean_source(value: str | None) -> str | None:
    """The outreach source code from the QR link, by the JSON API's rule; anything else is
    dropped (a damaged link must not stop anyone from writing)."""
    if not value:
        return None
    try:
        return WebchatMessageIn(text="-", source=value).source
    except ValidationError:
        return None


def clean_conversation_id(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return WebchatMessageIn(text="-", conversation_id=value).conversation_id
    except ValidationError:
        return None


def clean_client_message_id(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return WebchatMessageIn(text="-", client_message_id=value).client_message_id
    except ValidationError:
        return None


def _query(**params: str | None) -> str:
    pairs = {k: v for k, v in params.items() if v}
    return "/?" + urlencode(pairs) if pairs else "/"


@dataclass(frozen=True)
class Ui:
    """The page's words in one language."""

    catalog: Catalog
    lang: str

    def __call__(self, name: str) -> str:
        return self.catalog.render(name, self.lang, "web")

    def emergency_line(self) -> str:
        """'In danger now? Call 112.' with the number as a call link."""
        number = self.catalog.contacts.numbers.get("emergency", "112")
        text = e(self("ui_emergency"))
        link = f'<a href="tel:{e(number.replace(" ", ""))}">{e(number)}</a>'
        return text.replace(e(number), link, 1)


@dataclass(frozen=True)
class Shown:
    """One message on the page."""

    kind: str  # user | bot | coordinator | status
    text: str
    id: int | None = None
    response: str | None = None
    machine_translated: bool = False
    language: str | None = None


def shown_from_rows(rows: Iterable[Message]) -> list[Shown]:
    return [Shown(kind="user" if m.direction == "inbound" else message_kind(m.response_name),
                  text=m.text, id=m.id, response=m.response_name,
                  machine_translated=m.is_machine_translated, language=m.language)
            for m in rows]


def render_message(ui: Ui, m: Shown, anchor: bool = False) -> str:
    """One <li> of #log; static/chat.js builds the same markup (keep the two in step)."""
    if m.kind == "coordinator":
        who, visible = ui("ui_coordinator"), True
    elif m.kind == "status" and m.response in STATUS_LABELS:
        who, visible = ui(STATUS_LABELS[m.response]), True
    elif m.kind == "user":
        who, visible = ui("ui_you"), False
    else:
        who, visible = ui("ui_bot"), False
    attrs = f' class="msg {e(m.kind)}" data-kind="{e(m.kind)}"'
    if anchor:
        attrs = ' id="new"' + attrs
    if m.id is not None:
        attrs += f' data-id="{e(m.id)}"'
    if m.response:
        attrs += f' data-response="{e(m.response)}"'
    attrs += f' data-machine-translated="{"true" if m.machine_translated else "false"}"'
    label = f'<span class="who{"" if visible else " sr"}">{e(who)}</span>'
    if m.machine_translated:
        label += f'<span class="mt">{e(ui("ui_machine_translated"))}</span>'
    lang = f' lang="{e(m.language)}"' if m.language and m.kind != "user" else ""
    return f'<li{attrs}>{label}<span class="text" dir="auto"{lang}>{e(m.text)}</span></li>'


def _document(ui: Ui, title: str, body: str, exit_url: str, main_attrs: str = "") -> str:
    direction = "rtl" if ui.lang in RTL_LANGUAGES else "ltr"
    hint = e(ui("ui_quick_exit_hint"))
    return (
        f'<!doctype html>\n<html lang="{e(ui.lang)}" dir="{direction}" class="no-js"><head>'
        '<meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<title>{e(title)}</title>'
        '<link rel="stylesheet" href="/static/chat.css">'
        '<script src="/static/chat.js" defer></script>'
        '</head><body>\n'
        '<header class="exit-bar">'
        f'<a id="quick-exit" href="{e(exit_url)}" data-exit-url="{e(exit_url)}" rel="noreferrer" '
        f'aria-describedby="exit-hint">{e(ui("ui_quick_exit"))}</a>'
        f'<span id="exit-hint" class="exit-hint">{hint}</span></header>\n'
        f'<main{main_attrs}>\n{body}</main>\n</body></html>\n'
    )


def render_menu(ctx: TurnContext, exit_url: str, src: str | None) -> str:
    ui = Ui(ctx.catalog, ctx.default_language)
    items = "".join(
        f'<li><a href="{e(_query(lang=code, src=src))}" lang="{e(code)}" hreflang="{e(code)}"'
        f' dir="{"rtl" if code in RTL_LANGUAGES else "ltr"}">{e(CORE_LANGUAGES[code])}</a></li>'
        for code in served_languages(ctx))
    body = (
        '<h1>Rightsline</h1>\n'
        f'<p class="sos">{ui.emergency_line()}</p>\n'
        f'<h2 id="choose">{e(ui("ui_choose_language"))}</h2>\n'
        f'<ul class="languages" aria-labelledby="choose">{items}</ul>\n'
    )
    return _document(ui, ui("ui_choose_language"), body, exit_url, ' id="menu"')


def _hidden(conversation_id: str | None, lang: str, src: str | None, after: int) -> str:
    return (f'<input type="hidden" name="conversation_id" value="{e(conversation_id)}">'
            f'<input type="hidden" name="lang" value="{e(lang)}">'
            f'<input type="hidden" name="src" value="{e(src)}">'
            f'<input type="hidden" name="after" value="{e(after)}">')


def render_chat(ctx: TurnContext, exit_url: str, *, lang: str, src: str | None,
                conversation_id: str | None, messages: Sequence[Shown] = (), after: int = 0,
                notice: str = "", is_error: bool = False, text: str = "") -> str:
    """The chat page. `after`: the last message id the person had already seen (the first newer
    message gets the #new anchor the form's action jumps to)."""
    ui = Ui(ctx.catalog, lang)
    first_new = next((i for i, m in enumerate(messages) if m.id is None or m.id > after), None)
    log_items = "".join(render_message(ui, m, anchor=i == first_new)
                        for i, m in enumerate(messages))
    last_id = max([after, *(m.id for m in messages if m.id is not None)])
    hidden = _hidden(conversation_id, lang, src, last_id)
    strings = "".join(f' data-t-{name.replace("_", "-")}="{e(ui("ui_" + name))}"'
                      for name in SCRIPT_STRINGS)
    anchor = "" if first_new is not None else '<span id="new"></span>'
    invalid = ' aria-invalid="true"' if is_error else ""
    body = (
        '<div class="top"><h1>Rightsline</h1>'
        f'<a id="language" href="{e(_query(src=src))}">{e(ui("ui_language"))}</a></div>\n'
        f'<p class="sos">{ui.emergency_line()}</p>\n'
        f'<p class="anon">{e(ui("ui_anonymous"))}</p>\n'
        f'<h2 class="sr" id="conversation">{e(ui("ui_conversation"))}</h2>\n'
        f'<ol id="log" aria-live="polite" aria-labelledby="conversation">{log_items}</ol>\n'
        f'{anchor}<div id="status" class="notice{" error" if is_error else ""}" role="status">'
        f'{e(notice)}</div>\n'
        '<form id="composer" method="post" action="/chat#new">'
        # A new id for the next message every time the page is made: the same form sent again
        # (a reload after sending, a double tap) is recognised and taken once.
        f'{hidden}<input type="hidden" name="client_message_id" '
        f'value="{e(secrets.token_urlsafe(16))}">'
        f'<label for="text">{e(ui("ui_message_label"))}</label>'
        f'<textarea id="text" name="text" rows="3" maxlength="{MAX_MESSAGE_CHARS}" '
        f'aria-describedby="status"{invalid}>{e(text)}</textarea>'
        f'<div class="actions"><button id="send" type="submit" name="action" value="send">'
        f'{e(ui("ui_send"))}</button>'
        f'<button id="refresh" class="nojs" type="submit" name="action" value="refresh">'
        f'{e(ui("ui_refresh"))}</button></div>'
        f'<p class="nojs hint">{e(ui("ui_nojs_note"))}</p></form>\n'
        '<form id="delete-form" method="post" action="/chat#new">'
        f'{hidden}<input type="hidden" name="action" value="delete">'
        f'<button id="delete" type="submit">{e(ui("ui_delete"))}</button></form>\n'
    )
    return _document(ui, ui("ui_title"), body, exit_url, f' id="chat"{strings}')


def _html(content: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status_code)


def _ctx(request: Request) -> TurnContext:
    return request.app.state.turn_context


def _exit_url(request: Request) -> str:
    return request.app.state.settings.quick_exit_url


@router.get("/", response_class=HTMLResponse)
def index(request: Request, lang: str | None = None, src: str | None = None) -> HTMLResponse:
    """/?lang=ro: the chat page in Romanian; without a language we serve: the language menu."""
    ctx = _ctx(request)
    source = clean_source(src)
    code = page_language(ctx, lang)
    if code is None:
        return _html(render_menu(ctx, _exit_url(request), source))
    return _html(render_chat(ctx, _exit_url(request), lang=code, src=source, conversation_id=None))


@router.get("/chat")
def chat_reloaded() -> RedirectResponse:
    """/chat opened by address (history, a reload after JavaScript took over): start over."""
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


def _transcript(ctx: TurnContext, conversation_id: str) -> list[Shown]:
    """Everything in the conversation so far, in order; UnknownConversation if it is gone."""
    with ctx.db.session() as s:
        get_conversation(s, conversation_id)
        return shown_from_rows(list_messages(s, conversation_id))


def _derived_id(client_id: str, text: str) -> str:
    digest = hashlib.sha256(f"{client_id}\n{text}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _earlier_delivery(ctx: TurnContext, client_id: str | None, conversation_id: str | None,
                      text: str) -> tuple[str | None, str | None]:
    """(The conversation in which this form's message was already taken, or None; the id to
    store it under.) The id came with the page; if the message stored under it says something
    else (an old page brought back and written in again), this one is stored under an id made
    of both, so that it too is taken once however often it is sent."""
    if not client_id:
        return None, None
    with ctx.db.session() as s:
        for candidate in (client_id, _derived_id(client_id, text)):
            original = find_original(s, candidate)
            if original is None:
                return None, candidate
            if original.text == text and conversation_id in (None, original.conversation_id):
                return original.conversation_id, candidate
    return None, None


def _resume_if_interrupted(ctx: TurnContext, store_id: str | None) -> None:
    """The form sent again after its first turn died (the process was killed): answer it now,
    once (gateway.conversations.turn.resume_message), so the page shows the answer."""
    if not store_id:
        return
    with ctx.db.session() as s:
        original = find_original(s, store_id)
        waiting = original.id if original is not None and original.awaiting_reply else None
    if waiting is not None:
        resume_message(ctx, waiting)


@router.post("/chat", response_class=HTMLResponse)
def chat_form(
    request: Request,
    text: Annotated[str, Form()] = "",
    conversation_id: Annotated[str, Form()] = "",
    lang: Annotated[str, Form()] = "",
    src: Annotated[str, Form()] = "",
    after: Annotated[str, Form()] = "0",
    action: Annotated[str, Form()] = "send",
    client_message_id: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """The page without JavaScript: a plain form post takes one turn (or deletes, or looks for
    news) and answers with the whole conversation. The same rules as the JSON API."""
    arrived = time.monotonic()
    ctx = _ctx(request)
    page_lang = page_language(ctx, lang) or ctx.default_language
    ui = Ui(ctx.catalog, page_lang)
    source = clean_source(src)
    conv = clean_conversation_id(conversation_id)
    seen = int(after) if after.isdigit() and len(after) < 19 else 0
    kept = text[: MAX_MESSAGE_CHARS * 2]  # what the person typed goes back in the box on error

    def page(conv_id: str | None, messages: Sequence[Shown] = (), *, notice: str = "",
             error: bool = False, keep: str = "", status_code: int = 200) -> HTMLResponse:
        html = render_chat(ctx, _exit_url(request), lang=page_lang, src=source,
                           conversation_id=conv_id, messages=messages, after=seen, notice=notice,
                           is_error=error, text=keep)
        return _html(html, status_code)

    def said(messages, language: str) -> list[Shown]:  # noqa: ANN001
        return [Shown(message_kind(m.response), m.text, response=m.response,
                      machine_translated=m.machine_translated, language=language)
                for m in messages]

    try:
        if action == "delete":
            language = page_lang
            if conv:
                with ctx.db.session() as s:
                    try:
                        language = get_conversation(s, conv).language or page_lang
                    except UnknownConversation:
                        conv = None
            if conv:
                erase_conversation(ctx, conv)
            done = fixed_messages(ctx.catalog, [("utter_conversation_deleted", language)],
                                  "webchat")
            return page(None, said(done, language), notice=ui("ui_deleted"))

        if action == "refresh":
            try:
                return page(conv, _transcript(ctx, conv) if conv else [])
            except UnknownConversation:
                return page(None, notice=ui("ui_error_gone"), error=True)

        try:
            message = clean_text(text)
        except ValueError as exc:
            notice = ui("ui_error_empty") if "empty" in str(exc) else ui("ui_error_too_long")
            try:
                return page(conv, _transcript(ctx, conv) if conv else [], notice=notice,
                            error=True, keep=kept, status_code=422)
            except UnknownConversation:
                return page(None, notice=notice, error=True, keep=kept, status_code=422)

        taken, store_id = _earlier_delivery(ctx, clean_client_message_id(client_message_id),
                                            conv, message)
        if taken is None:
            # Blocks and flood limits (gateway.abuse): danger and the keywords always pass.
            refused = guard_of(request).webchat_gate(
                ctx, request, conversation_id=conv, text=message,
                language=None if conv else page_lang)
            if refused is not None:
                notice = refused.messages(ctx)[0].text
                try:
                    shown = _transcript(ctx, conv) if conv else []
                except UnknownConversation:
                    shown = []
                return page(conv, shown, notice=notice, error=True, keep=kept,
                            status_code=refused.status_code)
            try:
                result = take_turn(ctx, channel="webchat", conversation_id=conv, text=message,
                                   language=None if conv else page_lang,
                                   source=None if conv else source, channel_message_id=store_id,
                                   started=arrived)
            except UnknownConversation:
                return page(None, notice=ui("ui_error_gone"), error=True, keep=kept,
                            status_code=status.HTTP_404_NOT_FOUND)
            except IntegrityError:
                # The same form sent twice at the same moment: the other post takes the turn.
                taken, _ = _earlier_delivery(ctx, store_id, conv, message)
                if taken is None:
                    raise
        if taken is not None:  # sent again (a reload, a double tap): no second turn
            _resume_if_interrupted(ctx, store_id)
            try:
                return page(taken, _transcript(ctx, taken))
            except UnknownConversation:  # erased meanwhile
                return page(None, notice=ui("ui_error_gone"), error=True,
                            status_code=status.HTTP_404_NOT_FOUND)
        if result.conversation_id is None:  # the person wrote the delete keyword
            return page(None, said(result.messages, result.language), notice=ui("ui_deleted"))
        try:
            messages = _transcript(ctx, result.conversation_id)
        except SQLAlchemyError:  # the turn is done: show at least its answer
            messages = [Shown("user", message), *said(result.messages, result.language)]
        return page(result.conversation_id, messages)
    except SQLAlchemyError as exc:
        # The database is down: nothing was kept. Say so; 112 is on the page in any case.
        log.error("database unavailable during web chat form post: %s", type(exc).__name__)
        return page(conv, notice=ui("ui_not_sent"), error=True,
                    keep=kept if action == "send" else "",
                    status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
