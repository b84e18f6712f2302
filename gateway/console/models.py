"""Console sign-in: sessions (the cookie holds a random token; only its SHA-256 is stored), the
second factor (TOTP secret encrypted, recovery codes hashed) and failed sign-ins per client
(by a keyed hash of the address, never the address)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")


class ConsoleSession(Base):
    __tablename__ = "console_session"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the cookie
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Signed in with the password only, because no second factor is set up yet: this session
    # may do nothing but set one up (short-lived).
    enrol_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StaffSecondFactor(Base):
    """One row per staff user who has (or is setting up) a TOTP second factor."""

    __tablename__ = "staff_second_factor"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          primary_key=True, autoincrement=False)
    secret_encrypted: Mapped[str | None] = mapped_column(Text)  # confirmed; Fernet
    pending_encrypted: Mapped[str | None] = mapped_column(Text)  # shown, not yet confirmed
    enabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last time step used: a code is accepted once (a conditional UPDATE claims it).
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    __tablename__ = "staff_recovery_code"
    __table_args__ = (UniqueConstraint("staff_id", "code_hash", name="uq_recovery_code"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"),
                                          index=True)
    code_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ClientThrottle(Base):
    """Failed console sign-ins of one client in the current window: what the per-client
    throttle counts (one conditional UPDATE per attempt, so parallel attempts are all counted).
    The client is a keyed hash of its address; rows of past windows are purged."""

    __tablename__ = "console_client_throttle"

    client_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
