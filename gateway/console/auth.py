"""Console sign-in: password and second factor (TOTP or a recovery code), a per-client throttle,
a temporary per-account lock-out counted atomically in the database, server-side sessions and
CSRF tokens.

The cookie carries secrets.token_urlsafe(32); the database keeps only its SHA-256, so a copy
of the database does not let anyone sign in. Unknown user, wrong password, wrong code and
locked account all give the same answer (and cost one scrypt each), so accounts cannot be
enumerated.

Order of defences: a client (a keyed hash of its address; behind a trusted proxy, the address
the proxy forwarded) gets CLIENT_FAILURES failed sign-ins per CLIENT_WINDOW, then is refused
before any password is checked, so one attacker cannot lock a coordinator out. An account is
locked only after LOCKOUT_FAILURES failures from anywhere, for LOCKOUT (never for ever).
Each failure is one `UPDATE ... SET failed_logins = failed_logins + 1`, so parallel guesses
are all counted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Literal

from fastapi import Depends, Form, HTTPException, Request, status
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.abuse.clients import client_address, keyed_hash, parse_networks
from gateway.background import PeriodicWorker
from gateway.console import totp
from gateway.console.models import (
    ClientThrottle,
    ConsoleSession,
    RecoveryCode,
    StaffSecondFactor,
)
from gateway.db import Database
from gateway.escalation.models import StaffUser
from gateway.escalation.passwords import hash_password, verify_password
from gateway.escalation.service import audit
from gateway.models import utcnow

log = logging.getLogger(__name__)

COOKIE = "rl_console"
COOKIE_PATH = "/console"
SESSION_LIFETIME = timedelta(hours=8)
# A session signed in with the password only, to set up the second factor, lives this long.
ENROL_LIFETIME = timedelta(minutes=15)
GENERIC_ERROR = ("Sign-in failed: wrong username, password or code, or the account is locked "
                 "for a while.")
THROTTLED_ERROR = ("Too many failed sign-ins from this device or network. Wait a few minutes "
                   "and try again; in an emergency ask an administrator.")
# Kept for callers that read them; the live values come from SignInPolicy (settings).
MAX_FAILURES = 20
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInPolicy:
    lockout_failures: int = MAX_FAILURES  # failures from anywhere before the account locks
    lockout: timedelta = LOCKOUT  # how long it stays locked
    client_failures: int = 5  # failures one client may make per client_window
    client_window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings) -> SignInPolicy:  # noqa: ANN001
        return cls(lockout_failures=settings.console_lockout_failures,
                   lockout=timedelta(minutes=settings.console_lockout_minutes),
                   client_failures=settings.console_client_failures,
                   client_window=timedelta(minutes=settings.console_client_window_minutes))


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes; everything here is stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


@cache
def _dummy_hash() -> str:
    # Verified against when the user is unknown, so that answer takes as long as any other.
    return hash_password(secrets.token_urlsafe(16))


# --- who is the client --------------------------------------------------------------------

def request_client_hash(request: Request) -> str:
    """The client as a keyed hash of its address (behind a trusted proxy, see
    RIGHTSLINE_TRUSTED_PROXIES, the address it forwarded), by the web chat's rule
    (gateway.abuse.clients)."""
    settings = request.app.state.settings
    address = client_address(request.client.host if request.client else None,
                             request.headers.get("x-forwarded-for"),
                             parse_networks(settings.trusted_proxies))
    return client_hash(settings.sender_hash_key.get_secret_value(), address)


def client_hash(key: str, address: str) -> str:
    return keyed_hash(key, "console-client", address)


def secret_box(settings) -> totp.SecretBox:  # noqa: ANN001
    return totp.SecretBox(settings.encryption_key.get_secret_value())


# --- the per-client throttle --------------------------------------------------------------

def claim_attempt(db: Database, client: str, now: datetime, policy: SignInPolicy) -> bool:
    """Count this attempt as one of the client's failures, if the window has room: one
    conditional UPDATE (failures < limit), so however many arrive in parallel, exactly
    client_failures get through per window. Forgiven (forgive_attempt) when it succeeds.
    False when the client is throttled."""
    window_start = now - policy.client_window
    for _ in range(3):
        with db.session() as s:
            restarted = s.execute(
                update(ClientThrottle)
                .where(ClientThrottle.client_hash == client,
                       ClientThrottle.window_started_at <= window_start)
                .values(failures=1, window_started_at=now)
                .execution_options(synchronize_session=False)).rowcount
            if restarted:
                return True
            counted = s.execute(
                update(ClientThrottle)
                .where(ClientThrottle.client_hash == client,
                       ClientThrottle.failures < policy.client_failures)
                .values(failures=ClientThrottle.failures + 1)
                .execution_options(synchronize_session=False)).rowcount
            if counted:
                return True
            if s.get(ClientThrottle, client) is not None:
                return False
        try:
            with db.session() as s:
                s.add(ClientThrottle(client_hash=client, failures=1, window_started_at=now))
            return True
        except IntegrityError:
            continue  # another attempt of this client created the row first: count again
    return False


def forgive_attempt(s: Session, client: str) -> None:
    s.execute(update(ClientThrottle)
              .where(ClientThrottle.client_hash == client, ClientThrottle.failures > 0)
              .values(failures=ClientThrottle.failures - 1)
              .execution_options(synchronize_session=False))


# --- the account: atomic failure counting and lock-out ------------------------------------

def count_failure(s: Session, staff_id: int, now: datetime, policy: SignInPolicy) -> int:
    """One failed sign-in for the account, counted in the database (never read-then-write).
    An expired lock starts a fresh count; reaching lockout_failures locks for policy.lockout.
    Returns the count."""
    s.execute(update(StaffUser)
              .where(StaffUser.id == staff_id, StaffUser.locked_until.is_not(None),
                     StaffUser.locked_until <= now)
              .values(failed_logins=0, locked_until=None)
              .execution_options(synchronize_session=False))
    failures = s.execute(update(StaffUser).where(StaffUser.id == staff_id)
                         .values(failed_logins=func.coalesce(StaffUser.failed_logins, 0) + 1)
                         .returning(StaffUser.failed_logins)
                         .execution_options(synchronize_session=False)).scalar_one()
    if failures >= policy.lockout_failures:
        s.execute(update(StaffUser)
                  .where(StaffUser.id == staff_id,
                         or_(StaffUser.locked_until.is_(None), StaffUser.locked_until <= now))
                  .values(locked_until=now + policy.lockout)
                  .execution_options(synchronize_session=False))
    return failures


def _clear_failures(s: Session, staff_id: int) -> None:
    s.execute(update(StaffUser).where(StaffUser.id == staff_id)
              .values(failed_logins=0, locked_until=None)
              .execution_options(synchronize_session=False))


# --- the second factor --------------------------------------------------------------------

def has_second_factor(s: Session, staff_id: int) -> bool:
    return s.scalar(select(StaffSecondFactor.secret_encrypted)
                    .where(StaffSecondFactor.staff_id == staff_id)) is not None


def check_second_factor(s: Session, staff_id: int, code: str, now: datetime,
                        box: totp.SecretBox) -> Literal["totp", "recovery"] | None:
    """A TOTP code (each time step accepted once) or an unused recovery code (used up now).
    Both are claimed by a conditional UPDATE, so two parallel sign-ins cannot share one."""
    code = (code or "").strip()
    if not code or len(code) > 64:
        return None
    if totp.looks_like_recovery_code(code):
        used = s.execute(update(RecoveryCode)
                         .where(RecoveryCode.staff_id == staff_id,
                                RecoveryCode.code_hash == totp.hash_recovery_code(code),
                                RecoveryCode.used_at.is_(None))
                         .values(used_at=now).execution_options(synchronize_session=False))
        return "recovery" if used.rowcount == 1 else None
    stored = s.scalar(select(StaffSecondFactor.secret_encrypted)
                      .where(StaffSecondFactor.staff_id == staff_id))
    if stored is None:
        return None
    step = totp.matching_step(box.decrypt(stored), code, now)
    if step is None:
        return None
    claimed = s.execute(update(StaffSecondFactor)
                        .where(StaffSecondFactor.staff_id == staff_id,
                               or_(StaffSecondFactor.last_step.is_(None),
                                   StaffSecondFactor.last_step < step))
                        .values(last_step=step).execution_options(synchronize_session=False))
    return "totp" if claimed.rowcount == 1 else None


def recovery_codes_left(s: Session, staff_id: int) -> int:
    return s.scalar(select(func.count()).select_from(RecoveryCode)
                    .where(RecoveryCode.staff_id == staff_id, RecoveryCode.used_at.is_(None)))


def begin_enrolment(s: Session, staff_id: int, box: totp.SecretBox) -> str:
    """A new secret to show once (stored encrypted as pending until a code confirms it)."""
    secret = totp.new_secret()
    row = s.get(StaffSecondFactor, staff_id)
    if row is None:
        row = StaffSecondFactor(staff_id=staff_id)
        s.add(row)
    row.pending_encrypted = box.encrypt(secret)
    s.flush()
    return secret


def confirm_enrolment(s: Session, staff_id: int, code: str, now: datetime,
                      box: totp.SecretBox) -> list[str] | None:
    """Confirm the pending secret with a code from the app. Returns new recovery codes (to show
    once; only their hashes are kept), or None when the code is wrong or nothing is pending."""
    row = s.get(StaffSecondFactor, staff_id)
    if row is None or row.pending_encrypted is None or row.secret_encrypted is not None:
        return None
    step = totp.matching_step(box.decrypt(row.pending_encrypted), code, now)
    if step is None:
        return None
    row.secret_encrypted, row.pending_encrypted = row.pending_encrypted, None
    row.enabled_at, row.last_step = now, step
    return replace_recovery_codes(s, staff_id, now)


def replace_recovery_codes(s: Session, staff_id: int, now: datetime) -> list[str]:
    s.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
    codes = totp.new_recovery_codes()
    s.add_all([RecoveryCode(staff_id=staff_id, code_hash=totp.hash_recovery_code(code),
                            created_at=now) for code in codes])
    return codes


def reset_second_factor(s: Session, staff_id: int) -> None:
    """An administrator's reset: the second factor and recovery codes go, the account is
    unlocked, and every session of the user ends (the next sign-in sets a new factor up)."""
    s.execute(delete(StaffSecondFactor).where(StaffSecondFactor.staff_id == staff_id))
    s.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == staff_id))
    end_all_sessions(s, staff_id)
    _clear_failures(s, staff_id)


# --- signing in ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SignInResult:
    outcome: Literal["ok", "enrol", "failed", "throttled"]
    staff_id: int | None = None
    used_recovery_code: bool = False
    recovery_codes_left: int | None = None


def authenticate(s: Session, *, username: str, password: str, now: datetime,
                 code: str = "", box: totp.SecretBox | None = None,
                 policy: SignInPolicy = SignInPolicy(),
                 require_second_factor: bool = True) -> SignInResult:
    """Check password, lock and second factor inside the session `s`. Failures are counted
    atomically and audited (never with the username, password or code)."""
    staff = s.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    if staff is None or not staff.is_active or not staff.password_hash:
        verify_password(password, _dummy_hash())
        audit(s, actor=f"staff:{staff.id}" if staff else "unknown", action="sign_in_failed",
              detail="inactive or no password" if staff else None, now=now)
        return SignInResult("failed")
    staff_id = staff.id
    locked_until = aware(staff.locked_until)
    correct = verify_password(password, staff.password_hash)  # always, for equal timing
    if not correct:
        failures = count_failure(s, staff_id, now, policy)
        detail = f"failures={failures}" + (" locked" if failures >= policy.lockout_failures
                                           else "")
        audit(s, actor=f"staff:{staff_id}", action="sign_in_failed", detail=detail, now=now)
        return SignInResult("failed", staff_id)
    if locked_until is not None and locked_until > now:
        audit(s, actor=f"staff:{staff_id}", action="sign_in_locked", now=now)
        return SignInResult("failed", staff_id)
    if require_second_factor:
        if not has_second_factor(s, staff_id):
            _clear_failures(s, staff_id)
            audit(s, actor=f"staff:{staff_id}", action="sign_in_enrol", now=now)
            return SignInResult("enrol", staff_id)
        used = check_second_factor(s, staff_id, code, now, box) if box is not None else None
        if used is None:
            failures = count_failure(s, staff_id, now, policy)
            audit(s, actor=f"staff:{staff_id}", action="sign_in_failed",
                  detail=f"second factor failures={failures}"
                  + (" locked" if failures >= policy.lockout_failures else ""), now=now)
            return SignInResult("failed", staff_id)
        if used == "recovery":
            left = recovery_codes_left(s, staff_id)
            _clear_failures(s, staff_id)
            audit(s, actor=f"staff:{staff_id}", action="sign_in",
                  detail=f"recovery code used left={left}", now=now)
            return SignInResult("ok", staff_id, used_recovery_code=True, recovery_codes_left=left)
    _clear_failures(s, staff_id)
    audit(s, actor=f"staff:{staff_id}", action="sign_in", now=now)
    return SignInResult("ok", staff_id)


def sign_in(db: Database, *, client: str, username: str, password: str, code: str,
            now: datetime, box: totp.SecretBox,
            policy: SignInPolicy) -> tuple[SignInResult, str | None]:
    """The whole sign-in: throttle, password, lock, second factor, session. Returns the result
    and the new session's cookie value (None unless ok or enrol)."""
    if not claim_attempt(db, client, now, policy):
        log.info("console: a sign-in was refused (too many failures from one client)")
        return SignInResult("throttled"), None
    with db.session() as s:
        result = authenticate(s, username=username, password=password, code=code, now=now,
                              box=box, policy=policy)
        token = None
        if result.outcome in ("ok", "enrol"):
            forgive_attempt(s, client)
            token = start_session(s, result.staff_id, now, enrol_only=result.outcome == "enrol")
    return result, token


# --- sessions -----------------------------------------------------------------------------

def start_session(s: Session, staff_id: int, now: datetime, *, enrol_only: bool = False) -> str:
    """A new session; returns the cookie value (shown once, stored hashed)."""
    s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    s.add(ConsoleSession(token_hash=hash_token(token), staff_id=staff_id,
                         csrf_token=secrets.token_urlsafe(32), created_at=now,
                         expires_at=now + (ENROL_LIFETIME if enrol_only else SESSION_LIFETIME),
                         last_seen_at=now, enrol_only=enrol_only))
    s.flush()
    return token


def end_session(s: Session, session_id: int) -> None:
    s.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))


def end_all_sessions(s: Session, staff_id: int) -> int:
    return s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff_id)).rowcount


def purge(db: Database, now: datetime, policy: SignInPolicy = SignInPolicy()) -> int:
    """Delete expired sessions and client failures older than the throttle window (run on a
    schedule by every gateway; safe in parallel). Returns how many rows went."""
    with db.session() as s:
        sessions = s.execute(delete(ConsoleSession)
                             .where(ConsoleSession.expires_at <= now)).rowcount
        failures = s.execute(delete(ClientThrottle).where(
            ClientThrottle.window_started_at <= now - policy.client_window)).rowcount
    return (sessions or 0) + (failures or 0)


class ConsoleHousekeeping:
    """The schedule for purge(): a daemon thread in each gateway."""

    def __init__(self, db: Database, policy: SignInPolicy, clock=utcnow) -> None:  # noqa: ANN001
        self.db, self.policy, self.clock = db, policy, clock
        self._worker = PeriodicWorker("console-purge", self.run_once)

    def run_once(self) -> int:
        self.purge_now()
        return 0  # always wait a full period: this is housekeeping, not a queue

    def purge_now(self) -> int:
        return purge(self.db, self.clock(), self.policy)

    def start(self, poll_seconds: float) -> None:
        self._worker.start(poll_seconds)

    def stop(self) -> None:
        self._worker.stop()


# --- who is signed in ---------------------------------------------------------------------

@dataclass(frozen=True)
class SignedIn:
    """Who is signed in (a detached snapshot) and their session's CSRF token."""

    staff_id: int
    name: str
    role: str
    region_code: str | None
    session_id: int
    csrf: str
    enrol_only: bool = False
    username: str = ""

    @property
    def actor(self) -> str:
        return f"staff:{self.staff_id}"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, region_code: str | None) -> bool:
        return self.is_admin or (self.region_code is not None and self.region_code == region_code)


def clock(request: Request) -> datetime:
    escalations = getattr(request.app.state, "escalations", None)
    return escalations.clock() if escalations is not None else utcnow()


def lookup(db: Database, token: str | None, now: datetime) -> SignedIn | None:
    if not token or len(token) > 200:
        return None
    with db.session() as s:
        row = s.execute(
            select(ConsoleSession, StaffUser)
            .join(StaffUser, StaffUser.id == ConsoleSession.staff_id)
            .where(ConsoleSession.token_hash == hash_token(token),
                   ConsoleSession.expires_at > now, StaffUser.is_active.is_(True))
        ).first()
        if row is None:
            return None
        session, staff = row
        session.last_seen_at = now
        return SignedIn(staff_id=staff.id, name=staff.name, role=staff.role,
                        region_code=staff.region_code, session_id=session.id,
                        csrf=session.csrf_token, enrol_only=bool(session.enrol_only),
                        username=staff.username)


def _signed_in(request: Request) -> SignedIn | None:
    return lookup(request.app.state.db, request.cookies.get(COOKIE), clock(request))


ENROL_URL = "/console/second-factor"


def _check_csrf(signed_in: SignedIn, csrf: str | None) -> None:
    if not csrf or not hmac.compare_digest(csrf.encode("utf-8", "replace"),
                                           signed_in.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def page_staff(request: Request) -> SignedIn:
    """For pages: the signed-in staff, or a redirect to the sign-in page (or, for a session
    that still has to set up its second factor, to that page)."""
    signed_in = _signed_in(request)
    if signed_in is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                            headers={"Location": "/console/login"})
    if signed_in.enrol_only:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "set up the second factor first",
                            headers={"Location": ENROL_URL})
    return signed_in


def post_staff(request: Request, csrf: Annotated[str | None, Form()] = None) -> SignedIn:
    """For POSTs: 401 without a (full) session, 403 without the session's CSRF token."""
    signed_in = _signed_in(request)
    if signed_in is None or signed_in.enrol_only:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    _check_csrf(signed_in, csrf)
    return signed_in


def any_page_staff(request: Request) -> SignedIn:
    """Any session, also one that may only set up its second factor."""
    signed_in = _signed_in(request)
    if signed_in is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                            headers={"Location": "/console/login"})
    return signed_in


def any_post_staff(request: Request, csrf: Annotated[str | None, Form()] = None) -> SignedIn:
    signed_in = _signed_in(request)
    if signed_in is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    _check_csrf(signed_in, csrf)
    return signed_in


PageStaff = Annotated[SignedIn, Depends(page_staff)]
PostStaff = Annotated[SignedIn, Depends(post_staff)]
AnyPageStaff = Annotated[SignedIn, Depends(any_page_staff)]
AnyPostStaff = Annotated[SignedIn, Depends(any_post_staff)]
