"""Tables for escalation: regions, staff, the on-call rota, escalations and the audit log."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base, utcnow

_ID = BigInteger().with_variant(Integer, "sqlite")

# The rules for staff accounts, shared by the console's admin pages and the CLI.
STAFF_USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")
# A pager number in international form (after normalise_number): + then 8-15 digits, the
# country code first (never 0).
PAGER_NUMBER = re.compile(r"^\+[1-9]\d{7,14}$")


class Region(Base):
    """One of the seven coordinator regions (they follow the police regions)."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class RegionArea(Base):
    """A county or city a person may name, and the region it belongs to."""

    __tablename__ = "region_area"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)  # normalised name
    name: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)


class StaffUser(Base):
    """A coordinator or an administrator (console sign-in, paging)."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # coordinator | admin
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    # Work phone that gets pages. Kept encrypted like every number; the hash recognises
    # an acknowledgement sent back from it.
    pager_encrypted: Mapped[str | None] = mapped_column(Text)
    pager_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OnCallShift(Base):
    """Who is on call for a region, and when (stored in UTC; the CSV uses Europe/Stockholm)."""

    __tablename__ = "on_call_shift"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"))
    position: Mapped[str] = mapped_column(String(8))  # primary | backup
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # An override wins over ordinary shifts for the same region and position.
    is_override: Mapped[bool] = mapped_column(Boolean, default=False)


class Escalation(Base):
    """A request for a person. States: requested -> notified -> acknowledged -> closed;
    notified (primary) -> timed out -> notified (backup) -> fallback; requested -> fallback
    when nobody is on call. A due step is claimed by a conditional UPDATE, so each timed step
    happens once however many gateway replicas run."""

    __tablename__ = "escalation"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(8), unique=True)
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL"), index=True
    )
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    urgency: Mapped[str] = mapped_column(String(8))  # danger | normal
    reason: Mapped[str] = mapped_column(String(32))  # request_human | emergency_danger
    may_contact: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[str] = mapped_column(String(8), default="none")  # none|primary|backup|fallback
    paged_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    step_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Append-only: every view and action on escalations, and every sign-in."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # staff:<id> | system | person
    action: Mapped[str] = mapped_column(String(32))
    escalation_id: Mapped[int | None] = mapped_column(_ID, index=True)
    detail: Mapped[str | None] = mapped_column(String(200))  # never personal data
