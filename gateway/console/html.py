"""Tiny HTML helpers: every value goes through html.escape; no inline style or script."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

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


def select(name: str, options: list[tuple[str, str]], label: str) -> str:
    opts = "".join(f'<option value="{e(v)}">{e(text)}</option>' for v, text in options)
    return (f'<label for="{e(name)}">{e(label)}</label>'
            f'<select id="{e(name)}" name="{e(name)}">{opts}</select>')


def page(title: str, body: str, *, who: str | None = None, csrf: str | None = None,
         status_code: int = 200) -> HTMLResponse:
    header = ""
    if who is not None and csrf is not None:
        header = (f'<header><a href="/console">Queue / Kö</a>'
                  f'<a href="/console/qr">QR cards / QR-kort</a><span class="who">{e(who)}</span>'
                  f'{post_form("/console/logout", csrf, "", "Sign out / Logga ut", "inline")}'
                  "</header>")
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        f'<title>{e(title)} – Rightsline console</title>'
        '<link rel="stylesheet" href="/static/console.css"></head>'
        f'<body>{header}<main><h1>{e(title)}</h1>{body}</main></body></html>'
    )
    return HTMLResponse(document, status_code=status_code)


def message_page(title: str, text: str, *, status_code: int, back: str | None = None,
                 who: str | None = None, csrf: str | None = None) -> HTMLResponse:
    link = f'<p><a href="{e(back)}">Back / Tillbaka</a></p>' if back else ""
    return page(title, f'<p class="error">{e(text)}</p>{link}', who=who, csrf=csrf,
                status_code=status_code)
