"""Issue 11, item 11 (and the console part of item 6): console sign-in cannot be brute-forced
and cannot be used to lock a coordinator out. Failures are counted atomically in the database
(proved with 30 parallel wrong passwords on SQLite and PostgreSQL), each client is throttled
first (by a keyed hash of its address; behind a trusted proxy, the forwarded one), the account
lock is temporary, and a second factor (TOTP, recovery codes) is needed; administrators reset
it in the console and the CLI. Old sessions are purged on a schedule and on sign-out/reset."""

from __future__ import annotations

import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings, get_settings
from gateway.console import auth, totp
from gateway.console.models import (
    ClientThrottle,
    ConsoleSession,
    RecoveryCode,
    StaffSecondFactor,
)
from gateway.db import Database, upgrade_database
from gateway.escalation import cli
from gateway.escalation.models import AuditEvent, Region, StaffUser
from gateway.escalation.passwords import hash_password
from tests.support.console_signin import SECRET, Clock, code, enrol, install_clock, next_code
from tests.unit.fakes import FakeRasa
from translations.mt import FakeTranslator

PASSWORD = "correct horse battery staple"
PROXY = "10.0.0.1"


@pytest.fixture
def env(database_url):
    upgrade_database(database_url)
    settings = Settings(database_url=database_url, environment="test", detect_language=False,
                        trusted_proxies=[PROXY])
    app = create_app(settings, rasa=FakeRasa().client(), translator=FakeTranslator(set()),
                     start_outbox_worker=False)
    db = Database(database_url)
    ids = {}
    with db.session() as s:
        s.add(Region(code="vast", name="Väst"))
        s.flush()
        for username, role, region, enrolled in (("anna", "coordinator", "vast", True),
                                                 ("root", "admin", None, True),
                                                 ("new", "coordinator", "vast", False)):
            staff = StaffUser(username=username, name=username.title(), role=role,
                              region_code=region, password_hash=hash_password(PASSWORD),
                              failed_logins=0, is_active=True)
            s.add(staff)
            s.flush()
            ids[username] = staff.id
            if enrolled:
                enrol(s, staff.id, settings.encryption_key.get_secret_value())
    clock = install_clock(app)
    with TestClient(app, client=(PROXY, 40000)) as client:
        yield client, db, ids, clock
    db.dispose()


def post_login(client, username, password, code_="", client_ip=None):
    headers = {"X-Forwarded-For": client_ip} if client_ip else {}
    return client.post("/console/login", data={"username": username, "password": password,
                                               "code": code_},
                       headers=headers, follow_redirects=False)


def staff_row(db, staff_id) -> StaffUser:
    with db.session() as s:
        return s.get(StaffUser, staff_id)


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


# --- TOTP itself ----------------------------------------------------------------------------

def test_totp_matches_the_rfc_6238_test_vectors():
    secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # "12345678901234567890"
    for seconds, expected in ((59, "94287082"), (1111111109, "07081804"),
                              (1111111111, "14050471"), (1234567890, "89005924"),
                              (2000000000, "69279037"), (20000000000, "65353130")):
        assert totp.code_at(secret, seconds // 30, digits=8) == expected
    assert totp.code_at(secret, 1) == "287082"


def test_a_code_counts_one_step_either_side_and_no_further():
    clock = Clock()
    step = totp.step_of(clock.now)
    for offset, ok in ((-2, False), (-1, True), (0, True), (1, True), (2, False)):
        found = totp.matching_step(SECRET, totp.code_at(SECRET, step + offset), clock.now)
        assert (found == step + offset) if ok else found is None
    assert totp.matching_step(SECRET, "12345", clock.now) is None
    assert totp.matching_step(SECRET, "abcdef", clock.now) is None


# --- atomic counting --------------------------------------------------------------------------

def test_thirty_parallel_wrong_passwords_are_all_counted_and_lock(env):
    """The old read-then-write count ended at 2 here. Each thread has its own connection."""
    client, db, ids, clock = env
    now = clock.now
    policy = auth.SignInPolicy()  # locks at 20
    barrier = threading.Barrier(30)

    def guess(i: int) -> str:
        barrier.wait()
        with db.session() as s:
            return auth.authenticate(s, username="anna", password=f"wrong password {i}",
                                     now=now, policy=policy).outcome

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(guess, range(30)))
    assert outcomes == ["failed"] * 30
    anna = staff_row(db, ids["anna"])
    assert anna.failed_logins == 30
    assert auth.aware(anna.locked_until) == now + policy.lockout
    # Locked: the right password and a right code do not open it.
    box = auth.secret_box(client.app.state.settings)
    with db.session() as s:
        result = auth.authenticate(s, username="anna", password=PASSWORD, code=code(now),
                                   now=now, box=box, policy=policy)
    assert result.outcome == "failed"


def test_the_lock_is_temporary_and_a_success_clears_the_count(env):
    client, db, ids, clock = env
    policy = auth.SignInPolicy(lockout_failures=3, lockout=timedelta(minutes=15))
    box = auth.secret_box(client.app.state.settings)

    def attempt(password: str, code_: str = "") -> str:
        with db.session() as s:
            return auth.authenticate(s, username="anna", password=password, code=code_,
                                     now=clock.now, box=box, policy=policy).outcome

    assert [attempt("wrong password!") for _ in range(3)] == ["failed"] * 3
    assert attempt(PASSWORD, code(clock.now)) == "failed"  # locked
    clock.advance(minutes=14)
    assert attempt(PASSWORD, next_code(clock)) == "failed"  # 14:30: still locked
    clock.advance(seconds=1)
    assert attempt(PASSWORD, next_code(clock)) == "ok"  # 15:01
    anna = staff_row(db, ids["anna"])
    assert anna.failed_logins == 0 and anna.locked_until is None
    # After an expired lock the count starts again: one failure does not lock at once.
    with db.session() as s:
        s.execute(sa.update(StaffUser).where(StaffUser.id == ids["anna"])
                  .values(failed_logins=3, locked_until=clock.now - timedelta(seconds=1)))
    assert attempt("wrong password!") == "failed"
    anna = staff_row(db, ids["anna"])
    assert anna.failed_logins == 1 and anna.locked_until is None


# --- per-client throttling -------------------------------------------------------------------

def test_thirty_parallel_guesses_from_one_client_get_five_tries_and_the_account_stays_open(env):
    client, db, ids, clock = env
    settings = client.app.state.settings
    policy = auth.SignInPolicy.from_settings(settings)
    box = auth.secret_box(settings)
    attacker = auth.client_hash(settings.sender_hash_key.get_secret_value(), "203.0.113.5")
    barrier = threading.Barrier(30)

    def guess(i: int) -> str:
        barrier.wait()
        result, token = auth.sign_in(db, client=attacker, username="anna",
                                     password=f"wrong password {i}", code="000000",
                                     now=clock.now, box=box, policy=policy)
        assert token is None
        return result.outcome

    with ThreadPoolExecutor(30) as pool:
        outcomes = list(pool.map(guess, range(30)))
    assert sorted(outcomes) == ["failed"] * 5 + ["throttled"] * 25
    anna = staff_row(db, ids["anna"])
    assert anna.failed_logins == 5 and anna.locked_until is None
    # The coordinator, from another address, signs in at once.
    coordinator = auth.client_hash(settings.sender_hash_key.get_secret_value(), "198.51.100.7")
    result, token = auth.sign_in(db, client=coordinator, username="anna", password=PASSWORD,
                                 code=next_code(clock), now=clock.now, box=box, policy=policy)
    assert result.outcome == "ok" and token
    with db.session() as s:  # one counter per client (not a row per attempt), no address
        rows = {r.client_hash: r.failures for r in s.scalars(sa.select(ClientThrottle))}
    assert rows == {attacker: 5, coordinator: 0}
    assert all(len(key) == 64 for key in rows)


def test_five_wrong_guesses_through_the_proxy_do_not_lock_the_coordinator_out(env):
    client, db, ids, clock = env
    for _ in range(5):
        assert post_login(client, "anna", "wrong password!", "123456",
                          client_ip="203.0.113.5").status_code == 401
    refused = post_login(client, "anna", PASSWORD, next_code(clock), client_ip="203.0.113.5")
    assert refused.status_code == 429 and auth.COOKIE not in refused.cookies
    assert "Too many failed sign-ins" in refused.text
    # Only the address the trusted proxy appended counts: a forged left part changes nothing.
    forged = post_login(client, "anna", PASSWORD, next_code(clock),
                        client_ip="198.51.100.99, 203.0.113.5")
    assert forged.status_code == 429
    ok = post_login(client, "anna", PASSWORD, next_code(clock), client_ip="198.51.100.7")
    assert ok.status_code == 303 and ok.headers["location"] == "/console"
    assert staff_row(db, ids["anna"]).locked_until is None
    # The throttle ends with its window.
    clock.advance(minutes=16)
    client.cookies.clear()
    assert post_login(client, "anna", PASSWORD, next_code(clock),
                      client_ip="203.0.113.5").status_code == 303
    with db.session() as s:
        stored = " ".join(f"{row.client_hash} {row.failures}"
                          for row in s.scalars(sa.select(ClientThrottle)))
        details = " ".join(d or "" for d in s.scalars(sa.select(AuditEvent.detail)))
    for address in ("203.0.113.5", "198.51.100.7", "198.51.100.99"):
        assert address not in stored and address not in details


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(env, database_url):
    client, db, ids, clock = env
    with TestClient(client.app, client=("192.0.2.50", 40000)) as direct:
        for i in range(5):
            assert post_login(direct, "anna", "wrong password!", "1",
                              client_ip=f"198.51.100.{i}").status_code == 401
        assert post_login(direct, "anna", PASSWORD, next_code(clock),
                          client_ip="198.51.100.200").status_code == 429


# --- the second factor ----------------------------------------------------------------------

def test_the_password_alone_is_not_enough_and_a_code_is_used_once(env):
    client, db, ids, clock = env
    assert post_login(client, "anna", PASSWORD).status_code == 401
    assert post_login(client, "anna", PASSWORD, "000000").status_code == 401
    fresh = next_code(clock)
    assert post_login(client, "anna", PASSWORD, fresh).status_code == 303
    client.cookies.clear()
    # The same code again (someone watching over the shoulder) is refused.
    assert post_login(client, "anna", PASSWORD, fresh).status_code == 401
    actions = [a for a, in db.session().__enter__().execute(
        sa.select(AuditEvent.detail).where(AuditEvent.action == "sign_in_failed"))]
    assert all("second factor" in (d or "") for d in actions)


def test_enrolment_shows_the_secret_once_stores_it_encrypted_and_gives_recovery_codes(
        env, caplog):
    client, db, ids, clock = env
    caplog.set_level(logging.DEBUG)
    first = post_login(client, "new", PASSWORD)
    assert first.status_code == 303 and first.headers["location"] == auth.ENROL_URL
    # An enrolment-only session can do nothing else.
    assert client.get("/console", follow_redirects=False).headers["location"] == auth.ENROL_URL
    page = client.get(auth.ENROL_URL)
    assert page.status_code == 200 and "<script" not in page.text and "<img" not in page.text
    assert 'src="http' not in page.text and 'href="http' not in page.text  # no third party
    assert "script-src 'self'" in page.headers["content-security-policy"]
    secret = re.search(r"secret=([A-Z2-7]+)", page.text).group(1)
    csrf = csrf_of(page.text)
    assert client.post("/console/escalations/1/close",
                       data={"csrf": csrf, "outcome": "other"}).status_code == 401
    with db.session() as s:
        row = s.get(StaffSecondFactor, ids["new"])
        assert row.secret_encrypted is None and secret not in row.pending_encrypted
        assert auth.secret_box(client.app.state.settings).decrypt(row.pending_encrypted) == secret
    wrong = client.post(auth.ENROL_URL, data={"csrf": csrf, "code": "000000"})
    assert wrong.status_code == 422
    secret = re.search(r"secret=([A-Z2-7]+)", wrong.text).group(1)  # a new key, shown once
    done = client.post(auth.ENROL_URL, data={"csrf": csrf, "code": next_code(clock, secret)})
    assert done.status_code == 200
    codes = re.findall(r"<code>([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})</code>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/console").status_code == 200  # the new cookie is a full session
    with db.session() as s:
        sessions = s.scalars(sa.select(ConsoleSession)
                             .where(ConsoleSession.staff_id == ids["new"])).all()
        assert len(sessions) == 1 and not sessions[0].enrol_only  # the enrol-only one is gone
        hashes = set(s.scalars(sa.select(RecoveryCode.code_hash)
                               .where(RecoveryCode.staff_id == ids["new"])))
        assert hashes == {totp.hash_recovery_code(c) for c in codes}
        assert not hashes & set(codes)
        assert secret not in s.get(StaffSecondFactor, ids["new"]).secret_encrypted
    # A recovery code signs in once (a lost phone), in any case and with or without dashes.
    client.cookies.clear()
    used = post_login(client, "new", PASSWORD, codes[0].lower().replace("-", " "))
    assert used.status_code == 303 and used.headers["location"] == auth.ENROL_URL
    assert "Unused recovery codes: 9" in client.get(auth.ENROL_URL).text
    client.cookies.clear()
    assert post_login(client, "new", PASSWORD, codes[0]).status_code == 401
    for text in (secret, *codes, PASSWORD):
        assert text not in caplog.text


def test_parallel_sign_ins_cannot_share_one_recovery_code(env):
    client, db, ids, clock = env
    settings = client.app.state.settings
    with db.session() as s:
        [recovery] = auth.replace_recovery_codes(s, ids["anna"], clock.now)[:1]
    barrier = threading.Barrier(8)

    def use(i: int) -> str:
        barrier.wait()
        with db.session() as s:
            return auth.authenticate(s, username="anna", password=PASSWORD, code=recovery,
                                     now=clock.now, box=auth.secret_box(settings)).outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(use, range(8)))
    assert sorted(outcomes) == ["failed"] * 7 + ["ok"]


# --- administrators reset the second factor ---------------------------------------------------

def sign_in_fully(client, clock, username):
    resp = post_login(client, username, PASSWORD, next_code(clock))
    assert resp.status_code == 303, resp.text
    return csrf_of(client.get("/console").text)


def test_an_administrator_resets_a_coordinators_second_factor_in_the_console(env):
    client, db, ids, clock = env
    with TestClient(client.app, client=(PROXY, 40001)) as anna:
        sign_in_fully(anna, clock, "anna")
        with db.session() as s:
            auth.replace_recovery_codes(s, ids["anna"], clock.now)
        url = f"/console/admin/staff/{ids['anna']}/reset-second-factor"
        # A coordinator may not.
        assert anna.post(url, data={"csrf": csrf_of(anna.get("/console").text)}).status_code == 403
        csrf = sign_in_fully(client, clock, "root")
        admin_page = client.get("/console/admin").text
        assert f'action="{url}"' in admin_page
        resp = client.post(url, data={"csrf": csrf})
        assert resp.status_code == 200 and "Second factor reset" in resp.text
        # Her sessions ended; her next sign-in sets up a new factor.
        assert anna.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    with db.session() as s:
        assert s.get(StaffSecondFactor, ids["anna"]) is None
        assert s.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)
                        .where(RecoveryCode.staff_id == ids["anna"])) == 0
        detail = s.scalar(sa.select(AuditEvent.detail)
                          .where(AuditEvent.action == "second_factor_reset"))
        assert detail == f"staff:{ids['anna']}"
    client.cookies.clear()
    assert post_login(client, "anna", PASSWORD).headers["location"] == auth.ENROL_URL


def test_the_cli_resets_the_second_factor_and_the_password(env, database_url, monkeypatch,
                                                         capsys):
    client, db, ids, clock = env
    monkeypatch.setenv("RIGHTSLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("RIGHTSLINE_ENVIRONMENT", "test")
    get_settings.cache_clear()
    try:
        sign_in_fully(client, clock, "anna")
        assert cli.main(["reset-second-factor", "--username", "anna"]) == 0
        with db.session() as s:
            assert s.get(StaffSecondFactor, ids["anna"]) is None
            assert s.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)
                            .where(ConsoleSession.staff_id == ids["anna"])) == 0
        assert client.get("/console", follow_redirects=False).status_code == 303
        # A new password ends every session and lifts a lock.
        resp = post_login(client, "root", PASSWORD, next_code(clock))
        assert resp.status_code == 303
        with db.session() as s:
            s.execute(sa.update(StaffUser).where(StaffUser.id == ids["root"])
                      .values(failed_logins=25, locked_until=clock.now + timedelta(minutes=5)))
        monkeypatch.setenv("RIGHTSLINE_NEW_PASSWORD", "a brand new passphrase")
        assert cli.main(["reset-password", "--username", "root"]) == 0
        root = staff_row(db, ids["root"])
        assert root.failed_logins == 0 and root.locked_until is None
        assert client.get("/console", follow_redirects=False).status_code == 303
        client.cookies.clear()
        assert post_login(client, "root", "a brand new passphrase",
                          next_code(clock)).status_code == 303
        assert cli.main(["reset-second-factor", "--username", "nobody"]) == 1
        out = capsys.readouterr()
        assert "a brand new passphrase" not in out.out + out.err
    finally:
        get_settings.cache_clear()


# --- sessions are purged ---------------------------------------------------------------------

def test_expired_sessions_and_old_failures_are_purged_on_a_schedule(env):
    client, db, ids, clock = env
    sign_in_fully(client, clock, "anna")
    post_login(client, "root", "wrong password!", client_ip="203.0.113.5")
    housekeeping = auth.ConsoleHousekeeping(
        db, auth.SignInPolicy.from_settings(client.app.state.settings), clock=clock)

    def counts() -> tuple[int, int]:
        with db.session() as s:
            return (s.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)),
                    s.scalar(sa.select(sa.func.count()).select_from(ClientThrottle)))

    assert counts() == (1, 2)
    housekeeping.purge_now()
    assert counts() == (1, 2)  # nothing is old yet (a counter for each of two clients)
    clock.advance(hours=8, seconds=1)
    housekeeping.start(0.05)
    try:
        deadline = time.monotonic() + 10
        while counts() != (0, 0) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        housekeeping.stop()
    assert counts() == (0, 0)
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_the_gateway_starts_the_purge_schedule(env, database_url):
    settings = Settings(database_url=database_url, environment="test", detect_language=False,
                        console_purge_seconds=0.05)
    app = create_app(settings, rasa=FakeRasa().client(), translator=FakeTranslator(set()))
    db = Database(database_url)
    with db.session() as s:
        s.add(ConsoleSession(token_hash="x" * 64, staff_id=env[2]["anna"], csrf_token="c",
                             created_at=auth.utcnow() - timedelta(hours=9),
                             expires_at=auth.utcnow() - timedelta(hours=1),
                             last_seen_at=auth.utcnow() - timedelta(hours=9)))
    with TestClient(app):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.session() as s:
                if s.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)) == 0:
                    break
            time.sleep(0.05)
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)) == 0
    db.dispose()


def test_sign_out_ends_the_session_row(env):
    client, db, ids, clock = env
    csrf = sign_in_fully(client, clock, "anna")
    assert client.post("/console/logout", data={"csrf": csrf},
                       follow_redirects=False).status_code == 303
    with db.session() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(ConsoleSession)) == 0
