"""Console pages for outreach: QR cards for every signed-in staff member, sources and counts
for administrators only, CSRF on every POST, audit, and the counts CSV."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.models import AuditEvent, StaffUser
from gateway.escalation.passwords import hash_password
from gateway.escalation.regions import sync_regions
from gateway.outreach.models import OutreachSource
from gateway.outreach.service import add_source, count_conversation, local_day
from tests.support.console_signin import enrol, install_clock, next_code
from tests.unit.fakes import STRONG_TEST_SECRETS, FakeRasa
from translations.mt import FakeTranslator

PASSWORD = "correct horse battery staple"
BASE = "https://chat.example.org"
QR = "/console/qr"
SOURCES = "/console/admin/sources"


@pytest.fixture
def env(sqlite_url):
    upgrade_database(sqlite_url)
    settings = Settings(database_url=sqlite_url, environment="test", detect_language=False,
                        public_base_url=BASE, twilio_from_number="+46700000000",
                        **STRONG_TEST_SECRETS)
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
        add_source(s, code="team-syd", label="Team south", region_code="syd")
    install_clock(app)
    with TestClient(app) as client:
        yield client, db, ids
    db.dispose()


def sign_in(client, username):
    client.cookies.clear()
    resp = client.post("/console/login", data={"username": username, "password": PASSWORD,
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


def test_signed_out_goes_to_sign_in(env):
    client, _, _ = env
    for url in (QR, f"{QR}/team-syd/ro.png", SOURCES, f"{SOURCES}/counts.csv"):
        resp = client.get(url, follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/console/login", url
    for url, data in ((QR, {"source": "team-syd", "lang": "ro"}),
                      (SOURCES, {"code": "x", "label": "X"}),
                      (f"{SOURCES}/team-syd/deactivate", {})):
        assert client.post(url, data=data).status_code == 401, url


def test_a_coordinator_makes_a_card_but_cannot_manage_sources(env):
    client, db, ids = env
    sign_in(client, "anna")
    page = client.get(QR)
    assert page.status_code == 200
    assert 'href="/console/qr"' in page.text  # in the navigation
    assert 'value="team-syd"' in page.text and "Team south" in page.text
    assert 'lang="ar" dir="rtl">العربية (ar)' in page.text and ">Română (ro)<" in page.text
    assert SOURCES not in page.text
    assert "<script" not in page.text and "style=" not in page.text and "data:" not in page.text
    csrf = csrf_of(client, QR)
    resp = client.post(QR, data={"csrf": csrf, "source": "team-syd", "lang": "ro"})
    assert resp.status_code == 200, resp.text
    assert f'<img src="{QR}/team-syd/ro.svg"' in resp.text
    assert f"{BASE}/?lang=ro&amp;src=team-syd" in resp.text
    for kind in ("pdf", "png", "svg"):
        assert f'href="{QR}/team-syd/ro.{kind}?download=1"' in resp.text
    png = client.get(f"{QR}/team-syd/ro.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)))] == [
        f"{BASE}/?lang=ro&src=team-syd"]
    svg = client.get(f"{QR}/team-syd/ro.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.headers["content-disposition"].startswith("inline")
    pdf = client.get(f"{QR}/team-syd/ro.pdf?download=1")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-disposition"] == 'attachment; filename="team-syd-ro.pdf"'
    # Sources are for administrators only.
    assert client.get(SOURCES).status_code == 403
    assert client.get(f"{SOURCES}/counts.csv").status_code == 403
    for url, data in ((SOURCES, {"code": "x", "label": "X"}),
                      (f"{SOURCES}/team-syd/deactivate", {})):
        assert client.post(url, data={"csrf": csrf, **data}).status_code == 403, url
    anna = f"staff:{ids['anna']}"
    events = actions(db)
    assert (anna, "viewed_qr", None) in events
    assert (anna, "qr_previewed", "source=team-syd lang=ro") in events
    assert (anna, "qr_file", "source=team-syd lang=ro pdf") in events


def test_qr_needs_csrf_and_an_active_source_and_a_language(env):
    client, db, _ = env
    sign_in(client, "anna")
    csrf = csrf_of(client, QR)
    data = {"source": "team-syd", "lang": "ro"}
    assert client.post(QR, data=data).status_code == 403
    assert client.post(QR, data={**data, "csrf": "wrong"}).status_code == 403
    for bad in ({"source": "nope"}, {"lang": "xx"}, {"lang": "<b>"}):
        resp = client.post(QR, data={"csrf": csrf, **data, **bad})
        assert resp.status_code == 422 and "<b>" not in resp.text
    assert client.get(f"{QR}/nope/ro.png").status_code == 404
    assert client.get(f"{QR}/team-syd/xx.png").status_code == 404
    assert client.get(f"{QR}/team-syd/ro.gif").status_code == 422
    with db.session() as s:
        s.get(OutreachSource, "team-syd").active = False
    assert client.get(f"{QR}/team-syd/ro.png").status_code == 404
    assert "No active outreach sources" in client.get(QR).text


def test_admin_adds_deactivates_and_activates_sources(env):
    client, db, ids = env
    sign_in(client, "root")
    assert f'href="{SOURCES}"' in client.get("/console/admin").text  # linked from admin
    csrf = csrf_of(client, SOURCES)
    page = client.get(SOURCES).text
    assert "team-syd" in page and "Team south" in page and "Syd" in page
    assert "<script" not in page and "style=" not in page
    resp = client.post(SOURCES, data={"csrf": csrf, "code": "Night-Bus", "label": "Night bus",
                                      "region": "vast"})
    assert resp.status_code == 200 and "Source night-bus added" in resp.text
    for data, message in (({"code": "night-bus", "label": "x"}, "already exists"),
                          ({"code": "bad code", "label": "x"}, "1-32 characters"),
                          ({"code": "unknown", "label": "x"}, "reserved"),
                          ({"code": "ok", "label": " "}, "label"),
                          ({"code": "ok", "label": "x", "region": "atlantis"}, "unknown region")):
        resp = client.post(SOURCES, data={"csrf": csrf, **data})
        assert resp.status_code == 422 and message in resp.text.lower(), data
    # CSRF on every POST.
    assert client.post(SOURCES, data={"code": "x", "label": "X"}).status_code == 403
    assert client.post(f"{SOURCES}/night-bus/deactivate", data={}).status_code == 403
    resp = client.post(f"{SOURCES}/night-bus/deactivate", data={"csrf": csrf})
    assert resp.status_code == 200 and "deactivated" in resp.text
    assert f"{SOURCES}/night-bus/activate" in resp.text
    assert client.post(f"{SOURCES}/nope/deactivate", data={"csrf": csrf}).status_code == 404
    with db.session() as s:
        source = s.get(OutreachSource, "night-bus")
        assert (source.label, source.region_code, source.active) == ("Night bus", "vast", False)
    assert client.post(f"{SOURCES}/night-bus/activate", data={"csrf": csrf}).status_code == 200
    root = f"staff:{ids['root']}"
    events = [ev for ev in actions(db) if ev[1].startswith("source_")]
    assert events == [(root, "source_added", "source=night-bus region=vast"),
                      (root, "source_deactivated", "source=night-bus"),
                      (root, "source_activated", "source=night-bus")]


def test_counts_page_and_csv_export(env):
    client, db, ids = env
    today = local_day()
    with db.session() as s:
        for source, lang, day in (("team-syd", "ro", today), ("team-syd", "ro", today),
                                  ("team-syd", "th", today), ("unknown", "en", today),
                                  ("team-syd", "pl", today - timedelta(days=40))):
            count_conversation(s, source_code=source, language=lang, day=day)
    sign_in(client, "root")
    page = client.get(SOURCES).text
    assert f"<td>{today.isoformat()}</td><td>team-syd</td><td>ro</td><td>2</td>" in page
    assert "<td>team-syd</td><td>3</td>" in page  # total per source, last 30 days
    assert "<td>pl</td>" not in page
    since = (today - timedelta(days=60)).isoformat()
    assert "<td>pl</td>" in client.get(SOURCES, params={"since": since}).text
    csv = client.get(f"{SOURCES}/counts.csv", params={"since": since,
                                                      "until": today.isoformat()})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    old = (today - timedelta(days=40)).isoformat()
    assert csv.text == ("day,source,language,conversations\n"
                        f"{old},team-syd,pl,1\n"
                        f"{today.isoformat()},team-syd,ro,2\n"
                        f"{today.isoformat()},team-syd,th,1\n"
                        f"{today.isoformat()},unknown,en,1\n")
    # Bad periods are refused.
    for params in ({"since": "yesterday"}, {"since": "2026-03-02", "until": "2026-03-01"},
                   {"since": "2020-01-01", "until": "2026-01-01"}):
        assert client.get(f"{SOURCES}/counts.csv", params=params).status_code == 422, params
    assert (f"staff:{ids['root']}", "counts_exported",
            f"since={since} until={today.isoformat()} rows=4") in actions(db)


def test_the_day_defaults_to_the_last_30_days():
    from gateway.console.outreach import _period

    first, last, errors = _period(None, None, date(2026, 3, 31))
    assert (first, last, errors) == (date(2026, 3, 2), date(2026, 3, 31), [])
