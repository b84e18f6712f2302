"""SMS flood limits that a frightened person cannot trip over and a few senders cannot exhaust.

- Per sender: at most `rate_limit_per_sender` messages per window, counted by the sender's
  keyed hash across conversations (a DELETE does not reset it).
- Whole line: at most `rate_limit_global` DIFFERENT senders per window. A sender already
  answered in this window is never held back by the global limit, and a flooding sender adds
  one to it, not one per message.
- Exempt, always answered: immediate danger and every keyword (DELETE, STOP, START, HELP,
  LANGUAGE, a language's name): a person must be able to erase the conversation before the
  phone is checked, however many messages they sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.models import SmsArrival


def record_arrival(s: Session, *, sender_hash: str, now: datetime, settings: Settings,
                   is_exempt: bool) -> bool:
    """Record an inbound SMS and return True when it is over a limit (and is not exempt)."""
    since = now - timedelta(seconds=settings.rate_limit_window_seconds)
    s.execute(delete(SmsArrival).where(SmsArrival.arrived_at < since))
    is_over = False
    if not is_exempt:
        sent = s.scalar(select(func.count()).select_from(SmsArrival).where(
            SmsArrival.sender_hash == sender_hash, SmsArrival.arrived_at >= since)) or 0
        is_over = sent >= settings.rate_limit_per_sender
        if not is_over:
            is_active = s.scalar(select(SmsArrival.id).where(
                SmsArrival.sender_hash == sender_hash, SmsArrival.arrived_at >= since,
                SmsArrival.is_over_limit.is_(False)).limit(1)) is not None
            if not is_active:
                senders = s.scalar(select(func.count(func.distinct(SmsArrival.sender_hash))).where(
                    SmsArrival.arrived_at >= since, SmsArrival.is_over_limit.is_(False))) or 0
                is_over = senders >= settings.rate_limit_global
    s.add(SmsArrival(sender_hash=sender_hash, arrived_at=now, is_over_limit=is_over))
    s.flush()
    return is_over
