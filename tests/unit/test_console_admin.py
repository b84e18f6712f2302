"""Administrator pages of the console: admin only, CSRF, adding and (de)activating staff with
the pager stored encrypted, rota import (all line errors, nothing stored) and export, audit."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, OnCallShift, StaffUser
from gateway.escalation.passwords import hash_password
from gateway.escalation.regions import sync_regions
from gateway.escalation.rota import format_local
from gateway.models import utcnow
from tests.support.console_signin import enrol, install_clock, next_code
from tests.unit.fakes import FakeRasa
from translations.mt import FakeTranslator

PASSWORD = "correct horse battery staple"
PAGER = "+46701112233"
ADMIN = "/console/admin"


@pytest.fixture
def env(sqlite_url):
    upgrade_database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test", detect_language=False)
    app = create_app(settings, rasa=FakeRasa().client(), translator=FakeTranslator(set()),
                     start_outbox_worker=False)
    db = Database(sqlite_url)
    ids = {}
    with db.session() as s:
        sync_regions(s)
        for username, role, region in (("root", "admin", None), ("anna", "coordinator", "vast")):
            staff = StaffUser(username=username, name=f"{username.title()} Person", role=role,
                              region_code=region, password_hash=hash_password(PASSWORD))
            s.add(staff)
            s.flush()
            enrol(s, staff.id, settings.encryption_key.get_secret_value())
            ids[username] = staff.id
    install_clock(app)
    with TestClient(app) as client:
        yield client, db, ids
    db.dispose()


def sign_in(client, username, password=PASSWORD):
    client.cookies.clear()
    resp = client.post("/console/login", data={"username": username, "password": password,
                             "code": next_code(client.app.state.escalations.clock)},
                       follow_redirects=False)
    assert resp.status_code == 303, resp.text


def csrf_of(client, url="/console") -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    return re.search(r'name="csrf" value="([^"]+)"', resp.text).group(1)


def actions(db) -> list[tuple[str, str, str | None]]:
    with db.session() as s:
        return [tuple(r) for r in s.execute(
            sa.select(AuditEvent.actor, AuditEvent.action, AuditEvent.detail)
            .order_by(AuditEvent.id))]


def add_coordinator(client, csrf, **overrides):
    data = {"csrf": csrf, "username": "bo.k", "name": "Bo Karlsson", "region": "syd",
            "pager": PAGER, "password": ""}
    data.update(overrides)
    return client.post(f"{ADMIN}/staff", data=data)


def rota_around_now(username="bo.k", region="syd") -> str:
    now = utcnow()
    return ("region,username,position,starts,ends,override\n"
            f"{region},{username},primary,{format_local(now - timedelta(hours=1))},"
            f"{format_local(now + timedelta(hours=2))},no\n")


def test_coordinator_is_refused_everywhere(env):
    client, _, ids = env
    sign_in(client, "anna")
    csrf = csrf_of(client)
    assert client.get(ADMIN).status_code == 403
    assert client.get(f"{ADMIN}/rota.csv").status_code == 403
    for url, data in ((f"{ADMIN}/staff", {"username": "x.y", "name": "X", "region": "syd",
                                          "pager": PAGER}),
                      (f"{ADMIN}/staff/{ids['root']}/deactivate", {}),
                      (f"{ADMIN}/staff/{ids['anna']}/activate", {}),
                      (f"{ADMIN}/rota", {"rota": rota_around_now("anna", "vast")})):
        assert client.post(url, data={"csrf": csrf, **data}).status_code == 403, url
    # Signed out: pages go to sign-in, POSTs are 401.
    client.cookies.clear()
    resp = client.get(ADMIN, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/login"
    assert client.post(f"{ADMIN}/rota", data={"csrf": csrf}).status_code == 401


def test_admin_page_lists_staff_regions_and_on_call(env):
    client, db, ids = env
    sign_in(client, "root")
    resp = client.get(ADMIN)
    assert resp.status_code == 200
    text = resp.text
    assert "Anna Person" in text and "anna" in text and "coordinator" in text
    assert "Väst" in text and "NOBODY" in text
    assert f"{ADMIN}/rota.csv" in text and f"{ADMIN}/staff/{ids['anna']}/deactivate" in text
    assert "<script" not in text and "style=" not in text
    assert 'href="/static/console.css"' in text
    # Region rows show how many areas they have.
    assert re.search(r"<td>vast</td><td>[1-9]\d*</td>", text)
    assert ("staff:%d" % ids["root"], "viewed_admin", None) in actions(db)


def test_csrf_is_required(env):
    client, db, ids = env
    sign_in(client, "root")
    for url, data in ((f"{ADMIN}/staff", {"username": "x.y", "name": "X", "region": "syd",
                                          "pager": PAGER}),
                      (f"{ADMIN}/staff/{ids['anna']}/deactivate", {}),
                      (f"{ADMIN}/rota", {"rota": rota_around_now("anna", "vast")})):
        assert client.post(url, data=data).status_code == 403, url
        assert client.post(url, data={**data, "csrf": "wrong"}).status_code == 403, url
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 2
        assert s.get(StaffUser, ids["anna"]).is_active
        assert s.scalar(sa.select(sa.func.count()).select_from(OnCallShift)) == 0


def test_admin_adds_a_coordinator_with_an_encrypted_pager(env, sqlite_url):
    client, db, ids = env
    sign_in(client, "root")
    csrf = csrf_of(client, ADMIN)
    resp = add_coordinator(client, csrf, password="a much better password")
    assert resp.status_code == 200, resp.text
    assert "Coordinator added" in resp.text and "Bo Karlsson" in resp.text
    assert PAGER not in resp.text and PAGER[1:] not in resp.text
    assert PAGER not in client.get(ADMIN).text
    with db.session() as s:
        bo = s.scalar(sa.select(StaffUser).where(StaffUser.username == "bo.k"))
        assert bo.role == "coordinator" and bo.region_code == "syd" and bo.is_active
        assert bo.pager_encrypted and PAGER not in bo.pager_encrypted
        assert client.app.state.sms.vault.decrypt(bo.pager_encrypted) == PAGER
        assert bo.pager_hash == client.app.state.sms.vault.sender_hash(PAGER)
        bo_id = bo.id
    # Not in clear anywhere in the database file.
    db_file = Path(sqlite_url.removeprefix("sqlite:///"))
    for path in db_file.parent.glob(db_file.name + "*"):  # with any -wal / -journal
        raw = path.read_bytes()
        assert PAGER.encode() not in raw and PAGER[1:].encode() not in raw
    events = actions(db)
    added = [ev for ev in events if ev[1] == "staff_added"]
    assert added == [(f"staff:{ids['root']}", "staff_added",
                      f"staff:{bo_id} role=coordinator region=syd password=yes")]
    assert not any(ev[2] and ("Bo" in ev[2] or "4670" in ev[2]) for ev in events)
    # The first sign-in (password only) leads to setting up the second factor, and only there.
    sign_in(client, "bo.k", "a much better password")
    resp = client.get("/console", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/console/second-factor"
    assert "otpauth://totp/" in client.get("/console/second-factor").text


def test_add_coordinator_validation(env):
    client, db, _ = env
    sign_in(client, "root")
    csrf = csrf_of(client, ADMIN)
    for overrides, message in (({"pager": "0701112233"}, "pager number"),
                               ({"pager": "+4670"}, "pager number"),
                               ({"pager": "+4670111223344556"}, "pager number"),
                               ({"username": "a b"}, "username"),
                               ({"username": "anna"}, "already exists"),
                               ({"name": " "}, "name must be"),
                               ({"region": "atlantis"}, "known region"),
                               ({"password": "short"}, "at least 12"),
                               ({"password": "aaaaaaaaaaaaaa"}, "too few different")):
        resp = add_coordinator(client, csrf, **overrides)
        assert resp.status_code == 422, overrides
        assert message in resp.text, (overrides, resp.text)
        assert "0701112233" not in resp.text and "+4670" not in resp.text
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 2
    # Spaces and dashes in the number are fine.
    assert add_coordinator(client, csrf, pager="+46 70-111 22 33").status_code == 200


def test_deactivate_and_activate(env):
    client, db, ids = env
    sign_in(client, "anna")  # anna has a session that deactivation must end
    anna_cookies = dict(client.cookies)

    def as_anna():
        client.cookies.clear()
        for key, value in anna_cookies.items():
            client.cookies.set(key, value, path="/console")
        return client.get("/console", follow_redirects=False).status_code

    assert as_anna() == 200
    sign_in(client, "root")
    csrf = csrf_of(client, ADMIN)
    resp = client.post(f"{ADMIN}/staff/{ids['anna']}/deactivate", data={"csrf": csrf})
    assert resp.status_code == 200 and "deactivated" in resp.text
    assert f"{ADMIN}/staff/{ids['anna']}/activate" in resp.text
    with db.session() as s:
        assert not s.get(StaffUser, ids["anna"]).is_active
    # Cannot deactivate oneself; unknown id is 404.
    assert client.post(f"{ADMIN}/staff/{ids['root']}/deactivate",
                       data={"csrf": csrf}).status_code == 409
    assert client.post(f"{ADMIN}/staff/99999/deactivate", data={"csrf": csrf}).status_code == 404
    resp = client.post(f"{ADMIN}/staff/{ids['anna']}/activate", data={"csrf": csrf})
    assert resp.status_code == 200 and "activated" in resp.text
    with db.session() as s:
        assert s.get(StaffUser, ids["anna"]).is_active
    root = f"staff:{ids['root']}"
    assert [ev for ev in actions(db) if ev[1] in ("staff_deactivated", "staff_activated")] == [
        (root, "staff_deactivated", f"staff:{ids['anna']}"),
        (root, "staff_activated", f"staff:{ids['anna']}"),
    ]
    # anna's old session was ended on deactivation.
    assert as_anna() == 303


def test_rota_import_export(env):
    client, db, ids = env
    sign_in(client, "root")
    csrf = csrf_of(client, ADMIN)
    assert add_coordinator(client, csrf).status_code == 200
    resp = client.post(f"{ADMIN}/rota", data={"csrf": csrf, "rota": rota_around_now()})
    assert resp.status_code == 200, resp.text
    assert "1 shift(s) added" in resp.text
    page = client.get(ADMIN).text
    assert "Bo Karlsson (bo.k)" in page and PAGER not in page

    exported = client.get(f"{ADMIN}/rota.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.text.startswith("region,username,position,starts,ends,override\n")
    assert ",bo.k,primary," in exported.text and PAGER not in exported.text
    # The export re-imports: as a file upload, adding nothing new.
    resp = client.post(f"{ADMIN}/rota", data={"csrf": csrf},
                       files={"rota_file": ("rota.csv", exported.text.encode(), "text/csv")})
    assert resp.status_code == 200 and "0 shift(s) added" in resp.text
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OnCallShift)) == 1
    root = f"staff:{ids['root']}"
    events = actions(db)
    assert (root, "rota_imported", "shifts=1") in events
    assert (root, "rota_exported", "shifts=1") in events
    assert (root, "rota_imported", "shifts=0") in events


def test_invalid_rota_shows_every_line_error_and_stores_nothing(env):
    client, db, ids = env
    sign_in(client, "root")
    csrf = csrf_of(client, ADMIN)
    assert add_coordinator(client, csrf).status_code == 200
    bad = (rota_around_now()
           + "atlantis,bo.k,primary,2026-05-01 08:00,2026-05-01 20:00,no\n"
           + "syd,nobody,boss,2026-05-01 08:00,2026-05-01 07:00,maybe\n")
    resp = client.post(f"{ADMIN}/rota", data={"csrf": csrf, "rota": bad})
    assert resp.status_code == 422
    assert "line 3: unknown region" in resp.text
    assert "line 4: unknown user" in resp.text
    assert "line 4: position must be primary or backup" in resp.text
    assert "line 4: override must be yes or no" in resp.text
    assert "line 4: ends" in resp.text
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OnCallShift)) == 0
    assert "NOBODY" in client.get(ADMIN).text
    # A bad header is one error on line 1.
    resp = client.post(f"{ADMIN}/rota", data={"csrf": csrf, "rota": "a,b\nx,y\n"})
    assert resp.status_code == 422 and "line 1: the first line must be the header" in resp.text
    assert client.post(f"{ADMIN}/rota", data={"csrf": csrf, "rota": " "}).status_code == 422
    refused = [ev for ev in actions(db) if ev[1] == "rota_import_refused"]
    assert refused == [(f"staff:{ids['root']}", "rota_import_refused", "problems=5"),
                       (f"staff:{ids['root']}", "rota_import_refused", "problems=1")]
