"""Console pages for outreach: QR cards (any signed-in staff) and the sources with their daily
counts (administrators only).

Every POST needs the session's CSRF token; every view, file and action is audited (codes and
counts only). The QR code and the card are served from GET endpoints of the console itself
(no data: URIs, nothing third-party).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.console import auth
from gateway.console.admin import AdminPage, AdminPost
from gateway.console.auth import PageStaff, PostStaff, SignedIn
from gateway.console.html import e, lang_attrs, page, post_form
from gateway.db import Database
from gateway.deps import CatalogDep, DatabaseDep, SettingsDep
from gateway.escalation.models import Region
from gateway.escalation.service import audit
from gateway.outreach import cards
from gateway.outreach.models import MAX_LABEL, OutreachSource
from gateway.outreach.service import (
    SourceError,
    add_source,
    counts_csv,
    daily_counts,
    list_sources,
    local_day,
    normalise_code,
    set_active,
)
from translations.catalog import Catalog
from translations.languages import CORE_LANGUAGES

router = APIRouter(prefix="/console", include_in_schema=False)

QR_URL = "/console/qr"
SOURCES_URL = "/console/admin/sources"
DEFAULT_DAYS = 30
MAX_DAYS = 366
FileKind = Literal["svg", "png", "pdf"]
MEDIA_TYPES = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}


def _languages(catalog: Catalog) -> list[tuple[str, str]]:
    """(code, the language's own name) for every catalog language, Swedish and English first."""
    order = list(CORE_LANGUAGES)
    codes = sorted(catalog.languages, key=lambda c: (order.index(c) if c in order else 99, c))
    return [(code, CORE_LANGUAGES.get(code, code)) for code in codes]


def _active_source(s: Session, code: str) -> OutreachSource | None:
    source = s.get(OutreachSource, normalise_code(code))
    return source if source is not None and source.active else None


def _errors(errors: list[str]) -> str:
    if not errors:
        return ""
    items = "".join(f"<li>{e(x)}</li>" for x in errors)
    return f'<div class="error" role="alert"><ul>{items}</ul></div>'


# --- QR cards (all staff) -----------------------------------------------------------------

def _qr_form(who: SignedIn, sources: list[OutreachSource], languages: list[tuple[str, str]],
             chosen: tuple[str, str] = ("", "")) -> str:
    if not sources:
        return ('<p class="empty">No active outreach sources yet. An administrator adds them '
                f'under <a href="{SOURCES_URL}">Outreach sources</a>.</p>')
    source_opts = "".join(
        f'<option value="{e(s.code)}"{" selected" if s.code == chosen[0] else ""}>'
        f"{e(s.code)} – {e(s.label)}</option>" for s in sources)
    lang_opts = "".join(
        f'<option value="{e(code)}"{lang_attrs(code)}{" selected" if code == chosen[1] else ""}>'
        f"{e(name)} ({e(code)})</option>" for code, name in languages)
    inner = (f'<label for="source">Source / Källa</label>'
             f'<select id="source" name="source">{source_opts}</select>'
             f'<label for="lang">Language / Språk</label>'
             f'<select id="lang" name="lang">{lang_opts}</select>')
    return post_form(QR_URL, who.csrf, inner, "Show QR code / Visa QR-kod")


def _qr_page(s: Session, who: SignedIn, catalog: Catalog, *, body_top: str = "",
             chosen: tuple[str, str] = ("", ""), status_code: int = 200) -> HTMLResponse:
    sources = list(list_sources(s, active_only=True))
    nav = (f'<nav><a href="{SOURCES_URL}">Outreach sources and counts / Källor och antal</a></nav>'
           if who.is_admin else "")
    body = (nav + body_top
            + "<p>The card opens the web chat in the chosen language. It has no logo and no "
              "organisation name. / Kortet öppnar webbchatten på valt språk, utan logotyp "
              "och organisationsnamn.</p>"
            + _qr_form(who, sources, _languages(catalog), chosen))
    return page("QR cards / QR-kort", body, who=who.name, csrf=who.csrf, status_code=status_code)


@router.get("/qr", response_class=HTMLResponse)
def qr_home(request: Request, who: PageStaff, db: DatabaseDep, catalog: CatalogDep) -> HTMLResponse:
    with db.session() as s:
        audit(s, actor=who.actor, action="viewed_qr", now=auth.clock(request))
        return _qr_page(s, who, catalog)


def _file_url(code: str, lang: str, kind: FileKind) -> str:
    return f"{QR_URL}/{code}/{lang}.{kind}"


@router.post("/qr", response_class=HTMLResponse)
def qr_preview(request: Request, who: PostStaff, db: DatabaseDep, catalog: CatalogDep,
               settings: SettingsDep, source: Annotated[str, Form(max_length=64)] = "",
               lang: Annotated[str, Form(max_length=8)] = "") -> HTMLResponse:
    with db.session() as s:
        found = _active_source(s, source)
        errors = []
        if found is None:
            errors.append("Choose an active source.")
        if not catalog.has_language(lang):
            errors.append("Choose a language.")
        if errors:
            return _qr_page(s, who, catalog, body_top=_errors(errors), status_code=422)
        code = found.code
        audit(s, actor=who.actor, action="qr_previewed", detail=f"source={code} lang={lang}",
              now=auth.clock(request))
        url = cards.chat_url(settings.public_base_url, lang, code)
        name = dict(_languages(catalog)).get(lang, lang)
        links = " · ".join(
            f'<a href="{_file_url(code, lang, kind)}?download=1">{label}</a>'
            for kind, label in (("pdf", "Card / Kort (PDF, 85 × 55 mm)"),
                                ("png", "QR code / QR-kod (PNG)"),
                                ("svg", "QR code / QR-kod (SVG)")))
        preview = (
            f'<h2>{e(code)} · <span{lang_attrs(lang)}>{e(name)}</span></h2>'
            f'<p><img src="{_file_url(code, lang, "svg")}" width="264" height="264" '
            f'alt="QR code for {e(url)}"></p>'
            f"<p>Link / Länk: <code>{e(url)}</code></p>"
            f"<p>Download / Ladda ner: {links}</p>")
        return _qr_page(s, who, catalog, body_top=preview, chosen=(code, lang))


@router.get("/qr/{code}/{lang}.{kind}")
def qr_file(request: Request, code: str, lang: str, kind: FileKind, who: PageStaff,
            db: DatabaseDep, catalog: CatalogDep, settings: SettingsDep,
            download: Annotated[bool, Query()] = False) -> Response:
    with db.session() as s:
        found = _active_source(s, code)
        if found is None or not catalog.has_language(lang):
            return page("Not found / Hittades inte", '<p class="error">No such active source '
                        "or language.</p>", who=who.name, csrf=who.csrf, status_code=404)
        code = found.code
        audit(s, actor=who.actor, action="qr_file", detail=f"source={code} lang={lang} {kind}",
              now=auth.clock(request))
    url = cards.chat_url(settings.public_base_url, lang, code)
    if kind == "svg":
        content = cards.qr_svg(url)
    elif kind == "png":
        content = cards.qr_png(url)
    else:
        content = cards.card_pdf(url, cards.card_texts(catalog, lang),
                                 cards.card_sms_number(settings))
    disposition = "attachment" if download else "inline"
    return Response(content, media_type=MEDIA_TYPES[kind], headers={
        "Content-Disposition": f'{disposition}; filename="{code}-{lang}.{kind}"'})


# --- sources and counts (administrators) --------------------------------------------------

def _period(since: str | None, until: str | None, today: date) -> tuple[date, date, list[str]]:
    errors: list[str] = []
    first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    try:
        if since:
            first = date.fromisoformat(since)
        if until:
            last = date.fromisoformat(until)
    except ValueError:
        errors.append("Dates must be YYYY-MM-DD.")
    if first > last:
        errors.append("The first day must not be after the last day.")
    elif (last - first).days >= MAX_DAYS:
        errors.append(f"At most {MAX_DAYS} days at a time.")
    return first, last, errors


def _sources_table(s: Session, who: SignedIn, regions: dict[str, str]) -> str:
    rows = []
    for source in list_sources(s):
        action = post_form(
            f"{SOURCES_URL}/{source.code}/{'deactivate' if source.active else 'activate'}",
            who.csrf, "", "Deactivate / Inaktivera" if source.active else "Activate / Aktivera",
            "inline")
        region = regions.get(source.region_code, source.region_code) if source.region_code else "–"
        rows.append(f"<tr><td>{e(source.code)}</td><td>{e(source.label)}</td><td>{e(region)}</td>"
                    f"<td>{'yes' if source.active else 'no'}</td><td>{action}</td></tr>")
    if not rows:
        return '<p class="empty">No sources yet.</p>'
    return ('<table class="sources"><thead><tr><th>Code</th><th>Label</th><th>Region</th>'
            "<th>Active</th><th></th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _add_form(who: SignedIn, regions: dict[str, str]) -> str:
    options = '<option value="">– none / ingen –</option>' + "".join(
        f'<option value="{e(code)}">{e(name)} ({e(code)})</option>'
        for code, name in sorted(regions.items(), key=lambda kv: kv[1]))
    inner = (
        '<label for="code">Code (a-z, 0-9, -; at most 32; a team or campaign, never a person)'
        "</label>"
        '<input id="code" name="code" required maxlength="32" pattern="[a-z0-9][a-z0-9\\-]{0,31}" '
        'autocomplete="off">'
        f'<label for="label">Label (short description, no personal data)</label>'
        f'<input id="label" name="label" required maxlength="{MAX_LABEL}" autocomplete="off">'
        f'<label for="region">Region (escalations from its cards go there)</label>'
        f'<select id="region" name="region">{options}</select>')
    return post_form(SOURCES_URL, who.csrf, inner, "Add source / Lägg till källa")


def _counts_table(s: Session, first: date, last: date) -> str:
    rows = daily_counts(s, since=first, until=last)
    if not rows:
        return '<p class="empty">No conversations counted in this period.</p>'
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.source_code] = totals.get(row.source_code, 0) + row.conversations
    lines = "".join(f"<tr><td>{e(r.day.isoformat())}</td><td>{e(r.source_code)}</td>"
                    f"<td>{e(r.language)}</td><td>{r.conversations}</td></tr>" for r in rows)
    total_lines = "".join(f"<tr><td>{e(code)}</td><td>{n}</td></tr>"
                          for code, n in sorted(totals.items()))
    return ('<table class="counts"><thead><tr><th>Day</th><th>Source</th><th>Language</th>'
            f"<th>Conversations</th></tr></thead><tbody>{lines}</tbody></table>"
            '<h3>Per source / Per källa</h3><table class="totals"><thead><tr><th>Source</th>'
            f"<th>Conversations</th></tr></thead><tbody>{total_lines}</tbody></table>")


def _sources_page(request: Request, db: Database, who: SignedIn, *,
                  since: str | None = None, until: str | None = None,
                  notice: str | None = None, errors: list[str] | None = None,
                  status_code: int = 200) -> HTMLResponse:
    first, last, period_errors = _period(since, until, local_day(auth.clock(request)))
    errors = (errors or []) + period_errors
    with db.session() as s:
        regions = dict(s.execute(select(Region.code, Region.name)).all())
        sources = _sources_table(s, who, regions)
        counts = "" if period_errors else _counts_table(s, first, last)
    period_form = (
        f'<form method="get" action="{SOURCES_URL}" class="period">'
        f'<label for="since">From / Från</label>'
        f'<input id="since" name="since" type="date" value="{e(since or first.isoformat())}">'
        f'<label for="until">To / Till</label>'
        f'<input id="until" name="until" type="date" value="{e(until or last.isoformat())}">'
        '<button type="submit">Show / Visa</button></form>')
    csv_link = (f'<p><a href="{SOURCES_URL}/counts.csv?since={first.isoformat()}'
                f'&amp;until={last.isoformat()}">Download CSV / Ladda ner CSV</a></p>'
                if not period_errors else "")
    body = (
        f'<nav><a href="/console/admin">Administration</a> · <a href="{QR_URL}">QR cards / '
        "QR-kort</a></nav>"
        + (f'<p class="notice" role="status">{e(notice)}</p>' if notice else "")
        + _errors(errors)
        + "<h2>Sources / Källor</h2>" + sources
        + "<h2>Add a source / Lägg till källa</h2>" + _add_form(who, regions)
        + "<h2>Conversations opened per day (Europe/Stockholm) / Samtal per dag</h2>"
        + "<p>Aggregates only: no conversation is linked to a source. Codes nobody knows, or of "
          "inactive sources, count as <code>unknown</code>.</p>"
        + period_form + csv_link + counts)
    return page("Outreach sources / Uppsökande källor", body, who=who.name, csrf=who.csrf,
                status_code=status_code)


@router.get("/admin/sources", response_class=HTMLResponse)
def sources_home(request: Request, who: AdminPage, db: DatabaseDep,
                 since: Annotated[str | None, Query(max_length=10)] = None,
                 until: Annotated[str | None, Query(max_length=10)] = None) -> HTMLResponse:
    with db.session() as s:
        audit(s, actor=who.actor, action="viewed_sources", now=auth.clock(request))
    return _sources_page(request, db, who, since=since, until=until)


@router.post("/admin/sources", response_class=HTMLResponse)
def sources_add(request: Request, who: AdminPost, db: DatabaseDep,
                code: Annotated[str, Form(max_length=64)] = "",
                label: Annotated[str, Form(max_length=MAX_LABEL * 2)] = "",
                region: Annotated[str, Form(max_length=64)] = "") -> HTMLResponse:
    now = auth.clock(request)
    try:
        with db.session() as s:
            source = add_source(s, code=code, label=label, region_code=region or None)
            audit(s, actor=who.actor, action="source_added", now=now,
                  detail=f"source={source.code} region={source.region_code or '-'}")
            added = source.code
    except SourceError as exc:
        return _sources_page(request, db, who, errors=[f"{str(exc)[0].upper()}{str(exc)[1:]}."],
                             status_code=422)
    return _sources_page(request, db, who, notice=f"Source {added} added.")


def _set_active(request: Request, who: SignedIn, db: Database, code: str,
                active: bool) -> HTMLResponse:
    try:
        with db.session() as s:
            source = set_active(s, code, active)
            audit(s, actor=who.actor, action="source_activated" if active else "source_deactivated",
                  detail=f"source={source.code}", now=auth.clock(request))
    except SourceError:
        return _sources_page(request, db, who, errors=["No such source."], status_code=404)
    return _sources_page(request, db, who, notice="Source activated." if active
                         else "Source deactivated: new conversations from it count as unknown.")


@router.post("/admin/sources/{code}/deactivate", response_class=HTMLResponse)
def source_deactivate(request: Request, code: str, who: AdminPost, db: DatabaseDep) -> HTMLResponse:
    return _set_active(request, who, db, code, active=False)


@router.post("/admin/sources/{code}/activate", response_class=HTMLResponse)
def source_activate(request: Request, code: str, who: AdminPost, db: DatabaseDep) -> HTMLResponse:
    return _set_active(request, who, db, code, active=True)


@router.get("/admin/sources/counts.csv")
def counts_export(request: Request, who: AdminPage, db: DatabaseDep,
                  since: Annotated[str | None, Query(max_length=10)] = None,
                  until: Annotated[str | None, Query(max_length=10)] = None) -> Response:
    first, last, errors = _period(since, until, local_day(auth.clock(request)))
    if errors:
        return _sources_page(request, db, who, since=since, until=until, status_code=422)
    with db.session() as s:
        rows = daily_counts(s, since=first, until=last)
        text = counts_csv(rows)
        audit(s, actor=who.actor, action="counts_exported", now=auth.clock(request),
              detail=f"since={first.isoformat()} until={last.isoformat()} rows={len(rows)}")
    filename = f"outreach-counts-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
