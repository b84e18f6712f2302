"""Web chat flood limits, counted in the database (webchat_arrival), so they hold across
gateway replicas, in the style of gateway.sms.limits.

- Per conversation: at most `per_conversation` messages per window.
- Per client address (keyed hash; behind a trusted proxy the forwarded address): at most
  `per_client` messages per window over all its conversations, and at most
  `new_per_client` new conversations per window (every new conversation is a Rasa turn, a
  possible escalation and an outreach count).
- Exempt, always taken: immediate danger and the keywords (delete, the language menu, a
  language's name). Erasure by DELETE is not a message and never passes through here.
- Only messages taken are counted: a refused message costs nothing, so a person who tries
  again after the notice is not held back longer. A refused message is not stored; the person
  is told (429, in their language, with 112) and the page keeps the text.

Two replicas counting at the same instant may each take one message more than the limit;
the limit is a flood guard, not an exact quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.models import WebchatArrival


@dataclass(frozen=True)
class WebchatLimits:
    per_conversation: int = 30
    per_client: int = 120
    new_per_client: int = 10
    window: timedelta = timedelta(minutes=10)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebchatLimits:
        return cls(per_conversation=settings.webchat_rate_limit_per_conversation,
                   per_client=settings.webchat_rate_limit_per_client,
                   new_per_client=settings.webchat_new_conversations_per_client,
                   window=timedelta(seconds=settings.webchat_rate_limit_window_seconds))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite: naive UTC


def _count(s: Session, kind: str, key_hash: str, since: datetime) -> int:
    return s.scalar(select(func.count()).select_from(WebchatArrival).where(
        WebchatArrival.kind == kind, WebchatArrival.key_hash == key_hash,
        WebchatArrival.arrived_at >= since)) or 0


def record_webchat_arrival(s: Session, *, client_hash: str, conversation_hash: str | None,
                           now: datetime, limits: WebchatLimits, is_exempt: bool,
                           opened_at: datetime | None = None) -> bool:
    """Count a web chat message (conversation_hash None: it opens a conversation) and return
    True when it is over a limit and not exempt; then nothing is counted. `opened_at`: when
    the conversation was opened (its first message counted as "open", before it had an id)."""
    since = now - limits.window
    s.execute(delete(WebchatArrival).where(WebchatArrival.arrived_at < since))
    if not is_exempt:
        if conversation_hash is None:
            if _count(s, "open", client_hash, since) >= limits.new_per_client:
                return True
        else:
            opening = 1 if opened_at is not None and _aware(opened_at) >= since else 0
            if _count(s, "conv", conversation_hash, since) + opening >= limits.per_conversation:
                return True
        if _count(s, "client", client_hash, since) >= limits.per_client:
            return True
    s.add(WebchatArrival(kind="client", key_hash=client_hash, arrived_at=now))
    if conversation_hash is None:
        s.add(WebchatArrival(kind="open", key_hash=client_hash, arrived_at=now))
    else:
        s.add(WebchatArrival(kind="conv", key_hash=conversation_hash, arrived_at=now))
    s.flush()
    return False
