"""Time-limited blocks of an SMS sender (by its keyed number hash) or a web chat conversation
(by the keyed hash of its id).

Never for ever: a block lasts from an hour to `block_max_days` (default 92), because the
phone may later be in the hands of the person it was taken from. Every block and every lift
is an audit event with ids, kind, length and a reason code only (never a number, an address,
a hash or text).

What a blocked sender gets (decided here, documented in the README):
- SMS: no Rasa turn, nothing stored, nobody paged, no rate-limit count; at most one short
  fixed reply a day, the emergency text (112). DELETE and STOP still work as always: the
  person can always erase the conversation and stop messages.
- Web chat: every message is answered 403 with the emergency text (112) and is neither
  stored nor given to Rasa; DELETE and polling still work. A blocked web conversation can
  start a new one; the per-client limits bound that (gateway.abuse.limits).
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.escalation.service import audit
from gateway.models import AbuseBlock

KINDS = ("sms_sender", "webchat")
REASONS = {
    "flooding": "Flooding / Massutskick",
    "abusive": "Abusive or threatening / Kränkande eller hotfull",
    "fake_requests": "Fake requests / Falska ärenden",
    "other": "Other / Annat",
}
# The lengths offered in the console, in hours (hours to months).
DURATIONS = {6: "6 hours", 24: "24 hours", 72: "3 days", 168: "7 days", 720: "30 days",
             2160: "90 days"}
MIN_DURATION = timedelta(hours=1)
NOTICE_INTERVAL = timedelta(days=1)


class BlockError(ValueError):
    """A block was refused (the message never contains personal data)."""


@dataclass(frozen=True)
class BlockRequest:
    kind: str
    key_hash: str
    hours: int
    reason: str


def active_block(s: Session, kind: str, key_hash: str | None, now: datetime) -> AbuseBlock | None:
    if not key_hash:
        return None
    return s.scalar(select(AbuseBlock).where(
        AbuseBlock.kind == kind, AbuseBlock.key_hash == key_hash, AbuseBlock.lifted_at.is_(None),
        AbuseBlock.expires_at > now).order_by(AbuseBlock.expires_at.desc()).limit(1))


def create_block(s: Session, request: BlockRequest, *, actor_id: int | None, now: datetime,
                 max_days: int, escalation_id: int | None = None) -> AbuseBlock:
    if request.kind not in KINDS:
        raise BlockError("unknown kind of block")
    if request.reason not in REASONS:
        raise BlockError("choose a reason from the list")
    length = timedelta(hours=request.hours)
    if length < MIN_DURATION or length > timedelta(days=max_days):
        raise BlockError(f"a block lasts from 1 hour to {max_days} days")
    block = AbuseBlock(kind=request.kind, key_hash=request.key_hash, reason=request.reason,
                       created_at=now, expires_at=now + length, created_by=actor_id,
                       escalation_id=escalation_id)
    s.add(block)
    s.flush()
    audit(s, actor=f"staff:{actor_id}" if actor_id else "system", action="blocked",
          escalation_id=escalation_id,
          detail=f"block={block.id} kind={request.kind} hours={request.hours} reason={request.reason}",
          now=now)
    return block


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def fingerprint(key_hash: str) -> str:
    """8 characters to tell blocks apart in the console: derived from the key hash in its own
    domain, so it is no piece of any hash stored or logged elsewhere (the sender hash is also
    in conversation rows and limit counts)."""
    return hashlib.sha256(b"rightsline-block-fingerprint\0" + key_hash.encode()).hexdigest()[:8]


def lift_block(s: Session, block_id: int, *, actor_id: int, now: datetime) -> AbuseBlock:
    block = s.get(AbuseBlock, block_id)
    if block is None or block.lifted_at is not None:
        raise BlockError("no such block, or already lifted")
    if _aware(block.expires_at) <= _aware(now):
        raise BlockError("this block has already ended")
    block.lifted_at, block.lifted_by = now, actor_id
    audit(s, actor=f"staff:{actor_id}", action="block_lifted", escalation_id=block.escalation_id,
          detail=f"block={block.id} kind={block.kind}", now=now)
    return block


def claim_daily_notice(s: Session, block: AbuseBlock, now: datetime) -> bool:
    """True for the one blocked-sender reply allowed a day: a conditional UPDATE, so two
    replicas never both send it."""
    return s.execute(
        update(AbuseBlock)
        .where(AbuseBlock.id == block.id,
               (AbuseBlock.last_notice_at.is_(None))
               | (AbuseBlock.last_notice_at <= now - NOTICE_INTERVAL))
        .values(last_notice_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def list_blocks(s: Session, now: datetime, *, ended_since: timedelta = timedelta(days=30)):  # noqa: ANN201
    """Active blocks first (soonest to end first), then those ended in the last 30 days."""
    active = s.scalars(select(AbuseBlock).where(
        AbuseBlock.lifted_at.is_(None), AbuseBlock.expires_at > now)
        .order_by(AbuseBlock.expires_at, AbuseBlock.id)).all()
    ended = s.scalars(select(AbuseBlock).where(
        ((AbuseBlock.lifted_at.is_not(None)) & (AbuseBlock.lifted_at > now - ended_since))
        | ((AbuseBlock.lifted_at.is_(None)) & (AbuseBlock.expires_at <= now)
           & (AbuseBlock.expires_at > now - ended_since)))
        .order_by(AbuseBlock.id.desc())).all()
    return active, ended


def blocked_sms_reply(s: Session, *, sender_hash: str, body: str, sms_keyword: str | None,
                      catalog, default_language: str,  # noqa: ANN001
                      now: datetime) -> list[str] | None:
    """None when the sender is not blocked, or writes DELETE or STOP (always honoured: the
    normal path takes them). Else what a blocked sender gets: utter_blocked (the line cannot
    be written to for a while; 112; DELETE still works) at most once a day, otherwise nothing;
    nothing is stored, no turn, no page. `sms_keyword` is the SMS line's own reading of the
    body (gateway.sms.keywords), passed in so that abuse does not import the SMS slice."""
    from gateway.conversations.keywords import match_keyword
    from gateway.models import Conversation

    block = active_block(s, "sms_sender", sender_hash, now)
    if block is None:
        return None
    keyword = match_keyword(body)
    if (keyword is not None and keyword.kind == "delete") or sms_keyword == "stop":
        return None
    if not claim_daily_notice(s, block, now):
        return []
    language = s.scalar(select(Conversation.language).where(
        Conversation.channel == "sms", Conversation.sender_hash == sender_hash)
        .order_by(Conversation.created_at.desc()).limit(1)) or default_language
    if not catalog.has_language(language):
        language = "en"
    return [catalog.render("utter_blocked", language, "sms")]
