"""Console sign-in: passwords with lock-out, server-side sessions, CSRF tokens.

The cookie carries secrets.token_urlsafe(32); the database keeps only its SHA-256, so a copy
of the database does not let anyone sign in. Unknown user, wrong password and locked account
all give the same answer (and cost one scrypt each), so accounts cannot be enumerated.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, status
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.console.models import ConsoleSession
from gateway.db import Database
from gateway.escalation.models import StaffUser
from gateway.escalation.passwords import hash_password, verify_password
from gateway.escalation.service import audit
from gateway.models import utcnow

COOKIE = "rl_console"
COOKIE_PATH = "/console"
SESSION_LIFETIME = timedelta(hours=8)
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
GENERIC_ERROR = "Sign-in failed: wrong username or password, or the account is locked for a while."


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


def authenticate(s: Session, *, username: str, password: str, now: datetime) -> StaffUser | None:
    """The staff user on success; None (and an audit event, never with the username or the
    password) otherwise. Five failures in a row lock the account for LOCKOUT."""
    staff = s.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    if staff is None or not staff.is_active or not staff.password_hash:
        verify_password(password, _dummy_hash())
        audit(s, actor=f"staff:{staff.id}" if staff else "unknown", action="sign_in_failed",
              detail="inactive or no password" if staff else None, now=now)
        return None
    locked_until = aware(staff.locked_until)
    correct = verify_password(password, staff.password_hash)  # always, for equal timing
    if locked_until is not None and locked_until > now:
        audit(s, actor=f"staff:{staff.id}", action="sign_in_locked", now=now)
        return None
    if not correct:
        staff.failed_logins = (staff.failed_logins or 0) + 1
        detail = f"failures={staff.failed_logins}"
        if staff.failed_logins >= MAX_FAILURES:
            staff.locked_until, staff.failed_logins = now + LOCKOUT, 0
            detail += " locked"
        audit(s, actor=f"staff:{staff.id}", action="sign_in_failed", detail=detail, now=now)
        return None
    staff.failed_logins, staff.locked_until = 0, None
    audit(s, actor=f"staff:{staff.id}", action="sign_in", now=now)
    return staff


def start_session(s: Session, staff: StaffUser, now: datetime) -> str:
    """A new session for staff; returns the cookie value (shown once, stored hashed)."""
    s.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff.id,
                                           ConsoleSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    s.add(ConsoleSession(token_hash=hash_token(token), staff_id=staff.id,
                         csrf_token=secrets.token_urlsafe(32), created_at=now,
                         expires_at=now + SESSION_LIFETIME, last_seen_at=now))
    s.flush()
    return token


def end_session(s: Session, session_id: int) -> None:
    s.execute(delete(ConsoleSession).where(ConsoleSession.id == session_id))


@dataclass(frozen=True)
class SignedIn:
    """Who is signed in (a detached snapshot) and their session's CSRF token."""

    staff_id: int
    name: str
    role: str
    region_code: str | None
    session_id: int
    csrf: str

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
                        csrf=session.csrf_token)


def _signed_in(request: Request) -> SignedIn | None:
    return lookup(request.app.state.db, request.cookies.get(COOKIE), clock(request))


def page_staff(request: Request) -> SignedIn:
    """For pages: the signed-in staff, or a redirect to the sign-in page."""
    signed_in = _signed_in(request)
    if signed_in is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, "sign in first",
                            headers={"Location": "/console/login"})
    return signed_in


def post_staff(request: Request, csrf: Annotated[str | None, Form()] = None) -> SignedIn:
    """For POSTs: 401 without a session, 403 without the session's CSRF token."""
    signed_in = _signed_in(request)
    if signed_in is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first")
    if not csrf or not hmac.compare_digest(csrf.encode(), signed_in.csrf.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    return signed_in


PageStaff = Annotated[SignedIn, Depends(page_staff)]
PostStaff = Annotated[SignedIn, Depends(post_staff)]
