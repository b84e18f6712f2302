"""Database tables (SQLAlchemy 2, typed). Alembic migrations in migrations/ create them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Conversation(Base):
    __tablename__ = "conversation"

    # An unguessable random token; it is also the only sender id Rasa ever sees.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    language_source: Mapped[str | None] = mapped_column(String(16))
    # The coordinator region of the outreach source (QR card) the conversation was opened
    # from, for escalation. Never the source itself: per source only a daily count is kept.
    region_hint: Mapped[str | None] = mapped_column(String(16))
    # SMS only: a keyed hash of the sender's number identifies the conversation; the number
    # itself is kept only encrypted (to send later replies) and goes with the conversation.
    sender_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    sender_encrypted: Mapped[str | None] = mapped_column(Text)
    service_number: Mapped[str | None] = mapped_column(String(32))
    is_opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Message.id",
    )


class Message(Base):
    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("channel", "channel_message_id", name="uq_message_channel_message_id"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))  # inbound | outbound
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    response_name: Mapped[str | None] = mapped_column(String(100))
    is_machine_translated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The channel's own id (e.g. Twilio's MessageSid), for deduplicating repeated deliveries.
    channel_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # An inbound message whose turn has not stored its replies yet (migration 0010): the
    # worker taking the turn holds a lease; a retry or the sweep takes over an expired one.
    awaiting_reply: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    turn_claim_token: Mapped[str | None] = mapped_column(String(32))
    turn_claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    turn_attempts: Mapped[int] = mapped_column(Integer, default=0)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class SmsArrival(Base):
    """When an inbound SMS arrived, by the sender's keyed hash: what the rate limits count.
    Not tied to a conversation, so DELETE does not reset a sender's limit; no text, no number;
    pruned once older than the rate-limit window (gateway.sms.limits)."""

    __tablename__ = "sms_arrival"
    __table_args__ = (Index("ix_sms_arrival_sender_time", "sender_hash", "arrived_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    sender_hash: Mapped[str] = mapped_column(String(64))
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    is_over_limit: Mapped[bool] = mapped_column(Boolean, default=False)


class OutboxMessage(Base):
    """An SMS to send through the Twilio REST API. Written before sending; a worker claims it
    (a lease, so a crashed worker's job is taken over), sends, records Twilio's SID."""

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    conversation_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    to_encrypted: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    # pending -> sending -> sent -> delivered | failed | undelivered; simulated (no Twilio);
    # dead (gave up after the last attempt)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


# --- abuse: web chat limits, outreach counts per client, time-limited blocks (gateway.abuse) ---

class WebchatArrival(Base):
    """A web chat message taken (or a conversation opened), by keyed hash: what the web chat's
    rate limits count across replicas. kind: "conv" (the conversation's hash), "client" (the
    client address's hash), "open" (a new conversation, by client hash). No text, no address;
    pruned once older than the window (gateway.abuse.limits)."""

    __tablename__ = "webchat_arrival"
    __table_args__ = (Index("ix_webchat_arrival_key_time", "kind", "key_hash", "arrived_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    key_hash: Mapped[str] = mapped_column(String(64))
    arrived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class OutreachClientDay(Base):
    """How many new conversations of one client address (keyed hash) were counted in the
    outreach figures on a day, so that one client cannot pump them (gateway.outreach.service).
    No source and no conversation: only (day, hash, number); pruned after a day."""

    __tablename__ = "outreach_client_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    client_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    counted: Mapped[int] = mapped_column(Integer, default=0)


class AbuseBlock(Base):
    """A time-limited block of an SMS sender (its keyed number hash) or a web chat conversation
    (the keyed hash of its id). Never for ever: the phone may later be the victim's. Audited in
    audit_event without personal data (gateway.abuse.blocks)."""

    __tablename__ = "abuse_block"
    __table_args__ = (Index("ix_abuse_block_key", "kind", "key_hash", "expires_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # sms_sender | webchat
    key_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(32))  # a fixed code, never free text
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[int | None] = mapped_column(Integer)  # staff_user.id
    escalation_id: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"))  # the request it was made from, if any
    lifted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lifted_by: Mapped[int | None] = mapped_column(Integer)
    # The last time a blocked SMS sender got the fixed 112 reply (at most one a day).
    last_notice_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PendingErasure(Base):
    """A copy of an erased conversation outside this database that is still to be erased:
    Rasa's tracker (target: the conversation's random id) or one message body at Twilio
    (target: its SID). Written in the transaction that deletes the conversation, deleted once
    the erasure succeeded, retried with backoff until then (gateway.erasure). No text, no number."""

    __tablename__ = "pending_erasure"
    __table_args__ = (UniqueConstraint("kind", "target", name="uq_pending_erasure_kind_target"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # rasa_tracker | twilio_message | twilio_number
    target: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                      index=True)
    claim_token: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(100))
    # twilio_number only: which messages to look for at Twilio (the number stays encrypted)
    secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
