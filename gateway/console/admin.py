"""Administrator pages of the console: staff, regions, who is on call, the rota.

Only role == "admin" may use them (a coordinator gets 403 everywhere here). Every POST needs
the session's CSRF token (PostStaff). Pager numbers are encrypted on the way in and never
decrypted or shown; audit details carry ids and counts only, never numbers or names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.console import auth
from gateway.console.auth import SignedIn, page_staff, post_staff
from gateway.console.html import ConsoleRoute, csrf_field, e, page, post_form
from gateway.console.models import ConsoleSession, StaffSecondFactor
from gateway.deps import DatabaseDep
from gateway.escalation.models import (
    PAGER_NUMBER,
    STAFF_USERNAME,
    Region,
    RegionArea,
    StaffUser,
)
from gateway.escalation.passwords import check_password_strength, hash_password
from gateway.escalation.rota import (
    POSITIONS,
    RotaError,
    export_rota,
    format_local,
    import_rota,
    on_call_now,
)
from gateway.escalation.service import audit
from gateway.messaging.vault import NumberVault, normalise_number

router = APIRouter(prefix="/console/admin", include_in_schema=False, route_class=ConsoleRoute)

ADMIN_URL = "/console/admin"
MAX_ROTA_BYTES = 1_000_000


def _require_admin(who: SignedIn) -> SignedIn:
    if not who.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "administrators only")
    return who


def admin_page_staff(who: Annotated[SignedIn, Depends(page_staff)]) -> SignedIn:
    return _require_admin(who)


def admin_post_staff(who: Annotated[SignedIn, Depends(post_staff)]) -> SignedIn:
    return _require_admin(who)


AdminPage = Annotated[SignedIn, Depends(admin_page_staff)]
AdminPost = Annotated[SignedIn, Depends(admin_post_staff)]


def _vault(request: Request) -> NumberVault:
    return request.app.state.sms.vault


# --- rendering ----------------------------------------------------------------------------

def _messages(notice: str | None, errors: list[str] | None) -> str:
    out = ""
    if notice:
        out += f'<p class="notice" role="status">{e(notice)}</p>'
    if errors:
        items = "".join(f"<li>{e(x)}</li>" for x in errors)
        out += f'<div class="error" role="alert"><ul>{items}</ul></div>'
    return out


def _staff_table(s: Session, who: SignedIn, regions: dict[str, str], now: datetime) -> str:
    rows = []
    enrolled = set(s.scalars(select(StaffSecondFactor.staff_id)
                             .where(StaffSecondFactor.secret_encrypted.is_not(None))))
    for staff in s.scalars(select(StaffUser).order_by(StaffUser.role, StaffUser.username)):
        if staff.is_active:
            action = ("(you)" if staff.id == who.staff_id else post_form(
                f"{ADMIN_URL}/staff/{staff.id}/deactivate", who.csrf, "",
                "Deactivate / Inaktivera", "inline"))
        else:
            action = post_form(f"{ADMIN_URL}/staff/{staff.id}/activate", who.csrf, "",
                               "Activate / Aktivera", "inline")
        region = regions.get(staff.region_code, staff.region_code) if staff.region_code else "–"
        locked = (staff.locked_until is not None and auth.aware(staff.locked_until) > now)
        factor = "yes" if staff.id in enrolled else "not set up"
        reset = post_form(f"{ADMIN_URL}/staff/{staff.id}/reset-second-factor", who.csrf, "",
                          "Reset second factor / Återställ", "inline")
        rows.append(
            f"<tr><td>{e(staff.username)}</td><td>{e(staff.name)}</td><td>{e(staff.role)}</td>"
            f"<td>{e(region)}</td><td>{'yes' if staff.is_active else 'no'}"
            f"{' (locked)' if locked else ''}</td><td>{factor}</td>"
            f"<td>{action}{reset}</td></tr>")
    if not rows:
        return '<p class="empty">No staff yet.</p>'
    return ('<table class="staff"><thead><tr><th>Username</th><th>Name</th><th>Role</th>'
            '<th>Region</th><th>Active</th><th>Second factor</th><th></th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _regions_table(s: Session, now: datetime, regions: dict[str, str]) -> str:
    areas = dict(s.execute(select(RegionArea.region_code, func.count())
                           .group_by(RegionArea.region_code)).all())
    table = on_call_now(s, now)
    rows = []
    for code in sorted(regions, key=lambda c: regions[c]):
        cells = []
        for position in POSITIONS:
            staff = table.get(code, {}).get(position)
            cells.append(f"<td>{e(f'{staff.name} ({staff.username})') if staff else 'NOBODY'}</td>")
        rows.append(f"<tr><td>{e(regions[code])}</td><td>{e(code)}</td>"
                    f"<td>{areas.get(code, 0)}</td>{''.join(cells)}</tr>")
    if not rows:
        return '<p class="empty">No regions yet: run sync-regions.</p>'
    return (f"<p>On call at {e(format_local(now))} (Europe/Stockholm)</p>"
            '<table class="regions"><thead><tr><th>Region</th><th>Code</th><th>Areas</th>'
            "<th>Primary</th><th>Backup</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _add_form(who: SignedIn, regions: dict[str, str]) -> str:
    options = "".join(f'<option value="{e(code)}">{e(name)} ({e(code)})</option>'
                      for code, name in sorted(regions.items(), key=lambda kv: kv[1]))
    inner = (
        '<label for="username">Username</label>'
        '<input id="username" name="username" required maxlength="64" autocomplete="off">'
        '<label for="name">Name</label>'
        '<input id="name" name="name" required maxlength="100" autocomplete="off">'
        f'<label for="region">Region</label><select id="region" name="region">{options}</select>'
        '<label for="pager">Pager number (+46…)</label>'
        '<input id="pager" name="pager" required maxlength="32" inputmode="tel" '
        'autocomplete="off">'
        '<label for="password">Initial password (optional, at least 12 characters)</label>'
        '<input id="password" name="password" type="password" maxlength="1024" '
        'autocomplete="new-password">'
    )
    return post_form(f"{ADMIN_URL}/staff", who.csrf, inner, "Add coordinator / Lägg till")


def _rota_form(who: SignedIn, text: str = "") -> str:
    return (
        f'<form method="post" action="{ADMIN_URL}/rota" enctype="multipart/form-data">'
        f"{csrf_field(who.csrf)}"
        '<label for="rota">Rota CSV (region,username,position,starts,ends,override; '
        "Swedish local time)</label>"
        f'<textarea id="rota" name="rota" rows="10">{e(text)}</textarea>'
        '<label for="rota_file">…or a CSV file (UTF-8)</label>'
        '<input id="rota_file" name="rota_file" type="file" accept=".csv,text/csv">'
        '<button type="submit">Import rota / Importera</button></form>'
    )


def _dashboard(request: Request, db, who: SignedIn, *, notice: str | None = None,  # noqa: ANN001
               errors: list[str] | None = None, rota_text: str = "",
               status_code: int = 200) -> HTMLResponse:
    now = auth.clock(request)
    with db.session() as s:
        regions = dict(s.execute(select(Region.code, Region.name)).all())
        staff = _staff_table(s, who, regions, now)
        region_table = _regions_table(s, now, regions)
    body = (
        '<nav><a href="/console">Queue / Kö</a> · '
        f'<a href="{ADMIN_URL}/rota.csv">Download rota CSV / Ladda ner schemat</a> · '
        f'<a href="{ADMIN_URL}/sources">Outreach sources and counts / Källor och antal</a></nav>'
        + _messages(notice, errors)
        + "<h2>Regions and on call / Regioner och jour</h2>" + region_table
        + "<h2>Staff / Personal</h2>" + staff
        + "<h2>Add a coordinator / Lägg till samordnare</h2>" + _add_form(who, regions)
        + "<h2>Import rota / Importera schema</h2>" + _rota_form(who, rota_text)
    )
    return page("Administration", body, who=who.name, csrf=who.csrf, status_code=status_code)


# --- pages and actions --------------------------------------------------------------------

@router.get("", response_class=HTMLResponse)
def admin_home(request: Request, who: AdminPage, db: DatabaseDep) -> HTMLResponse:
    with db.session() as s:
        audit(s, actor=who.actor, action="viewed_admin", now=auth.clock(request))
    return _dashboard(request, db, who)


@router.post("/staff", response_class=HTMLResponse)
def add_coordinator(request: Request, who: AdminPost, db: DatabaseDep,
                    username: Annotated[str, Form(max_length=200)] = "",
                    name: Annotated[str, Form(max_length=200)] = "",
                    region: Annotated[str, Form(max_length=64)] = "",
                    pager: Annotated[str, Form(max_length=64)] = "",
                    password: Annotated[str, Form(max_length=1024)] = "") -> HTMLResponse:
    username, name = username.strip(), " ".join(name.split())
    number = normalise_number(pager)
    errors: list[str] = []
    if not STAFF_USERNAME.match(username):
        errors.append("The username must be 2-64 characters: letters, digits, . _ @ -")
    if not name or len(name) > 100:
        errors.append("The name must be 1-100 characters.")
    if not PAGER_NUMBER.match(number):
        # Never echo the number back.
        errors.append("The pager number must be + and 8-15 digits (country code instead of "
                      "the leading 0, e.g. +46…).")
    if password:
        try:
            check_password_strength(password)
        except ValueError as exc:
            errors.append(f"Password: {exc}.")
    vault = _vault(request)
    pager_hash = vault.sender_hash(number)
    with db.session() as s:
        if s.get(Region, region) is None:
            errors.append("Choose a known region.")
        if STAFF_USERNAME.match(username) and s.scalar(
                select(StaffUser.id).where(StaffUser.username == username)) is not None:
            errors.append("A staff user with that username already exists.")
        shared = bool(not errors and s.scalar(
            select(func.count()).select_from(StaffUser)
            .where(StaffUser.pager_hash == pager_hash)))
    if errors:
        return _dashboard(request, db, who, errors=errors, status_code=422)
    password_hash = hash_password(password) if password else None  # no transaction open
    now = auth.clock(request)
    with db.session() as s:
        staff = StaffUser(username=username, name=name, role="coordinator", region_code=region,
                          pager_encrypted=vault.encrypt(number), pager_hash=pager_hash,
                          password_hash=password_hash, failed_logins=0, is_active=True,
                          created_at=now)
        s.add(staff)
        s.flush()
        audit(s, actor=who.actor, action="staff_added", now=now,
              detail=f"staff:{staff.id} role=coordinator region={region} "
                     f"password={'yes' if password_hash else 'no'}")
    notice = "Coordinator added." + (
        " Warning: another staff user already has this pager number; acknowledgements from it "
        "cannot tell them apart." if shared else "")
    return _dashboard(request, db, who, notice=notice)


def _set_active(request: Request, who: SignedIn, db, staff_id: int,  # noqa: ANN001
                active: bool) -> HTMLResponse:
    if not active and staff_id == who.staff_id:
        return _dashboard(request, db, who, status_code=409,
                          errors=["You cannot deactivate your own account."])
    now = auth.clock(request)
    with db.session() as s:
        staff = s.get(StaffUser, staff_id)
        if staff is None:
            return _dashboard(request, db, who, status_code=404, errors=["No such staff user."])
        staff.is_active = active
        if not active:
            s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff_id))
        else:
            staff.failed_logins, staff.locked_until = 0, None
        audit(s, actor=who.actor, action="staff_activated" if active else "staff_deactivated",
              detail=f"staff:{staff_id}", now=now)
    return _dashboard(request, db, who,
                      notice="Staff user activated." if active else "Staff user deactivated.")


@router.post("/staff/{staff_id}/deactivate", response_class=HTMLResponse)
def deactivate(request: Request, staff_id: int, who: AdminPost, db: DatabaseDep) -> HTMLResponse:
    return _set_active(request, who, db, staff_id, active=False)


@router.post("/staff/{staff_id}/activate", response_class=HTMLResponse)
def activate(request: Request, staff_id: int, who: AdminPost, db: DatabaseDep) -> HTMLResponse:
    return _set_active(request, who, db, staff_id, active=True)


@router.post("/staff/{staff_id}/reset-second-factor", response_class=HTMLResponse)
def reset_second_factor(request: Request, staff_id: int, who: AdminPost,
                        db: DatabaseDep) -> HTMLResponse:
    """A lost or new phone: the user's second factor and recovery codes go, every session of
    theirs ends and the lock-out is lifted; their next sign-in sets up a new factor."""
    now = auth.clock(request)
    with db.session() as s:
        if s.get(StaffUser, staff_id) is None:
            return _dashboard(request, db, who, status_code=404, errors=["No such staff user."])
        auth.reset_second_factor(s, staff_id)
        audit(s, actor=who.actor, action="second_factor_reset", detail=f"staff:{staff_id}",
              now=now)
    if staff_id == who.staff_id:
        return _dashboard(request, db, who, notice="Your own second factor was reset: sign in "
                          "again to set up a new one.")
    return _dashboard(request, db, who, notice="Second factor reset: the user sets up a new "
                      "one at their next sign-in (with their password).")


@router.get("/rota.csv")
def rota_csv(request: Request, who: AdminPage, db: DatabaseDep) -> Response:
    with db.session() as s:
        text = export_rota(s)
        shifts = sum(1 for line in text.splitlines()[1:] if line and not line.startswith("#"))
        audit(s, actor=who.actor, action="rota_exported", detail=f"shifts={shifts}",
              now=auth.clock(request))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="rota.csv"'})


@router.post("/rota", response_class=HTMLResponse)
async def rota_import(request: Request, who: AdminPost, db: DatabaseDep,
                      rota: Annotated[str, Form(max_length=MAX_ROTA_BYTES)] = "",
                      rota_file: Annotated[UploadFile | None, File()] = None) -> HTMLResponse:
    text = rota
    if rota_file is not None and rota_file.filename:
        data = await rota_file.read(MAX_ROTA_BYTES + 1)
        if len(data) > MAX_ROTA_BYTES:
            return _dashboard(request, db, who, status_code=422,
                              errors=["The file is too large (at most 1 MB)."])
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return _dashboard(request, db, who, status_code=422,
                              errors=["The file is not UTF-8 text (save the CSV as UTF-8)."])
    if not text.strip():
        return _dashboard(request, db, who, status_code=422,
                          errors=["Paste the rota CSV or choose a file."])
    return _import_text(request, who, db, text)


def _import_text(request: Request, who: SignedIn, db, text: str) -> HTMLResponse:  # noqa: ANN001
    now = auth.clock(request)
    problems: list[tuple[int, str]] | None = None
    with db.session() as s:
        try:
            inserted = import_rota(s, text)
        except RotaError as exc:
            # import_rota checks every line before adding anything, so nothing is stored.
            problems = exc.errors
            audit(s, actor=who.actor, action="rota_import_refused",
                  detail=f"problems={len(problems)}", now=now)
        else:
            audit(s, actor=who.actor, action="rota_imported", detail=f"shifts={inserted}",
                  now=now)
    if problems is not None:
        return _dashboard(request, db, who, status_code=422, rota_text=text,
                          errors=[f"line {line}: {problem}" for line, problem in problems])
    return _dashboard(request, db, who, notice=f"Rota imported: {inserted} shift(s) added.")
