"""Outreach sources and their daily counts. A count is all that is kept: no conversation
refers to a source (a conversation keeps only the source's region, as region_hint)."""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.models import Base, utcnow

# A team or campaign code: lower case letters, digits and dashes, 1-32 characters.
SOURCE_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
# Where conversations opened with an unknown or inactive source code are counted.
UNKNOWN_SOURCE = "unknown"
MAX_LABEL = 100


class OutreachSource(Base):
    __tablename__ = "outreach_sources"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(MAX_LABEL))  # a short description, no personal data
    region_code: Mapped[str | None] = mapped_column(ForeignKey("region.code"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutreachDailyCount(Base):
    """Conversations opened per day (Europe/Stockholm), source code and language."""

    __tablename__ = "outreach_daily_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    source_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    language: Mapped[str] = mapped_column(String(16), primary_key=True)
    conversations: Mapped[int] = mapped_column(Integer, default=0)
