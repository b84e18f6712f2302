"""Tiny HTML helpers: every value goes through html.escape; no inline style or script."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur", "ps", "ku", "ckb", "yi"})


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def lang_attrs(language: str | None) -> str:
    if not language:
        return ' dir="auto"'
    direction = "rtl" if language.split("-")[0] in RTL_LANGUAGES else "ltr"
    return f' lang="{e(language)}" dir="{direction}"'


def csrf_field(csrf: str) -> str:
    return f'<input type="hidden" name="csrf" value="{e(csrf)}">'


def post_form(action: str, csrf: str, inner: str, button: str, css_class: str = "") -> str:
    cls = f' class="{e(css_class)}"' if css_class else ""
    return (f'<form method="post" action="{e(action)}"{cls}>{csrf_field(csrf)}{inner}'
            f'<button type="submit">{e(button)}</button></form>')


def select(name: str, options: list[tuple[str, str]], label: str, *, chosen: str | None = None,
           placeholder: str | None = None) -> str:
    """A labelled <select>; with `placeholder`, an empty first choice and `required`, so
    nothing is preselected and the browser asks for a choice."""
    opts = "".join(f'<option value="{e(v)}"{" selected" if v == chosen else ""}>{e(text)}</option>'
                   for v, text in options)
    required = ""
    if placeholder is not None:
        opts = f'<option value="">{e(placeholder)}</option>' + opts
        required = " required"
    return (f'<label for="{e(name)}">{e(label)}</label>'
            f'<select id="{e(name)}" name="{e(name)}"{required}>{opts}</select>')


STOCKHOLM = ZoneInfo("Europe/Stockholm")


def local_time(value: datetime | None) -> str:
    """A stored (UTC) time as Swedish wall-clock time, the same everywhere in the console."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite gives back naive UTC
    return value.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def page(title: str, body: str, *, who: str | None = None, csrf: str | None = None,
         status_code: int = 200, live: str | None = None,
         tab_title: str | None = None) -> HTMLResponse:
    """A console page. Signed-in live pages load /static/console.js (same origin, no inline script;
    the pages work without it); `live` is the JSON state URL it polls for this page."""
    header = script = ""
    if who is not None and csrf is not None:
        header = (f'<header><a href="/console">Queue / Kö</a>'
                  f'<a href="/console/qr">QR cards / QR-kort</a><span class="who">{e(who)}</span>'
                  f'{post_form("/console/logout", csrf, "", "Sign out / Logga ut", "inline")}'
                  "</header>")
        if live:  # only the live pages (queue, a request) load the script
            script = '<script src="/static/console.js" defer></script>'
    live_attr = f' data-live="{e(live)}"' if live else ""
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<title>{e(tab_title or title)} – Rightsline console</title>'
        f'<link rel="stylesheet" href="/static/console.css">{script}</head>'
        f'<body{live_attr}>{header}<main><h1>{e(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(document, status_code=status_code)


def message_page(title: str, text: str, *, status_code: int, back: str | None = None,
                 who: str | None = None, csrf: str | None = None) -> HTMLResponse:
    link = f'<p><a href="{e(back)}">Back / Tillbaka</a></p>' if back else ""
    return page(title, f'<p class="error">{e(text)}</p>{link}', who=who, csrf=csrf,
                status_code=status_code)


# --- errors as console pages --------------------------------------------------------------

ERROR_TEXTS = {
    401: ("Signed out / Utloggad",
          "Your session has ended, so nothing was done. Sign in again. / Din session har gått ut, "
          "inget utfördes. Logga in igen."),
    403: ("Not allowed / Inte tillåtet",
          "This needs an administrator. / Det här kräver en administratör."),
    "csrf": ("The form had expired / Formuläret var för gammalt",
             "Nothing was done: the page was opened before your latest sign-in (or in another "
             "session). Check and send again. / Inget utfördes: sidan öppnades före din senaste "
             "inloggning. Kontrollera och skicka igen."),
}
# The fields whose text a coordinator typed and must not lose on an error page.
KEPT_FIELDS = ("text", "note", "rota")


async def kept_text(request: Request) -> dict[str, str]:
    if request.method != "POST":
        return {}
    try:
        form = await request.form()  # parsed once already for the route; cached on the request
    except Exception:  # noqa: BLE001 - an unreadable body keeps nothing
        return {}
    kept = {k: v for k in KEPT_FIELDS if isinstance(v := form.get(k), str) and v.strip()}
    if kept.get("text") and form.get("lang") in ("sv", "en"):
        kept["lang"] = str(form.get("lang"))
    return kept


def error_page(request: Request, status_code: int, detail: str, *, who: str | None,
               csrf: str | None, kept: dict[str, str]) -> HTMLResponse:
    key = "csrf" if "csrf" in detail.lower() else status_code
    title, text = ERROR_TEXTS.get(key, ("Not done / Inte utfört", detail))
    if status_code == 403 and key != "csrf" and "administrators" not in detail:
        text = detail
    body = f'<p class="error" role="alert">{e(text)}</p>'
    path = request.url.path
    if kept.get("text") and path.endswith("/reply") and csrf is not None:
        # The reply, kept in a fresh form with this session's token: check it and send it again.
        body += post_form(path, csrf,
                          '<label for="text">Your reply (not sent) / Ditt svar (inte skickat)'
                          '</label><textarea id="text" name="text" rows="6" required '
                          f'maxlength="2000">{e(kept["text"])}</textarea>'
                          '<input type="hidden" name="lang" value="sv">',
                          "Send reply / Skicka svar", "reply primary")
    else:
        for name, value in kept.items():
            if name not in KEPT_FIELDS:
                continue
            body += (f'<label for="kept-{e(name)}">What you typed (not saved) / Det du skrev '
                     f'(inte sparat)</label><textarea id="kept-{e(name)}" rows="6" readonly>'
                     f'{e(value)}</textarea>')
    if status_code == 401:
        body += '<p><a href="/console/login">Sign in / Logga in</a></p>'
    target = path.rsplit("/", 1)[0] if request.method == "POST" else "/console"
    if not target.startswith("/console") or target in ("/console/escalations",):
        target = "/console"
    body += f'<p><a href="{e(target)}">Back / Tillbaka</a></p>'
    return page(title, body, who=who, csrf=csrf, status_code=status_code)


class ConsoleRoute(APIRoute):
    """A console route whose refusals (sign-in needed on a POST, a stale CSRF token,
    "administrators only") are console pages, not bare JSON, and keep what was typed."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def console_handler(request: Request):  # noqa: ANN202
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code not in (401, 403) or request.url.path.startswith(
                        "/console/api/"):
                    raise
                from gateway.console import auth  # auth imports html's neighbours

                signed_in = auth.lookup(request.app.state.db, request.cookies.get(auth.COOKIE),
                                        auth.clock(request))
                full = signed_in is not None and not signed_in.enrol_only
                return error_page(request, exc.status_code, str(exc.detail),
                                  who=signed_in.name if full else None,
                                  csrf=signed_in.csrf if full else None,
                                  kept=await kept_text(request))

        return console_handler
