"""Conversations and their messages. Services flush; the caller's session scope commits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Conversation, Message, OutboxMessage, utcnow


class UnknownConversation(Exception):
    pass


def new_conversation_id() -> str:
    return secrets.token_urlsafe(24)


def open_conversation(
    session: Session, *, channel: str, language: str | None = None,
    region_hint: str | None = None,
) -> Conversation:
    conversation = Conversation(
        id=new_conversation_id(), channel=channel, language=language, region_hint=region_hint
    )
    session.add(conversation)
    session.flush()
    return conversation


def get_conversation(session: Session, conversation_id: str) -> Conversation:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise UnknownConversation(conversation_id)
    return conversation


def record_message(
    session: Session,
    conversation: Conversation,
    *,
    direction: str,
    text: str,
    language: str | None,
    response_name: str | None = None,
    is_machine_translated: bool = False,
    channel_message_id: str | None = None,
) -> Message:
    message = Message(
        conversation_id=conversation.id,
        direction=direction,
        text=text,
        language=language,
        channel=conversation.channel,
        response_name=response_name,
        is_machine_translated=is_machine_translated,
        channel_message_id=channel_message_id,
    )
    conversation.last_activity_at = utcnow()
    session.add(message)
    session.flush()
    return message


def list_messages(session: Session, conversation_id: str) -> Sequence[Message]:
    return session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    ).all()


def is_with_coordinator(session: Session, conversation_id: str) -> bool:
    """A coordinator has acknowledged an escalation of this conversation and not closed it."""
    from gateway.escalation.models import Escalation  # the escalation slice builds on this one

    return session.scalar(
        select(Escalation.id).where(Escalation.conversation_id == conversation_id,
                                    Escalation.state == "acknowledged").limit(1)
    ) is not None


def messages_after(session: Session, conversation_id: str, after_id: int) -> Sequence[Message]:
    return session.scalars(
        select(Message).where(Message.conversation_id == conversation_id,
                              Message.direction == "outbound", Message.id > after_id)
        .order_by(Message.id)
    ).all()


def delete_conversation(
    session: Session, conversation_id: str, *, idle_before: datetime | None = None
) -> bool:
    """Delete the conversation, its messages, outbox rows and encrypted number (cascades), and
    queue, in the same transaction, the erasure of its copies elsewhere (gateway.erasure):
    Rasa's tracker, and the bodies Twilio keeps (the SIDs are read here, before the rows go).

    `idle_before` (retention): delete only if the conversation is still idle since then. The
    row is locked and re-read (SELECT ... FOR UPDATE on PostgreSQL), so a message that arrived
    after the caller listed idle conversations keeps it."""
    from gateway import erasure  # builds on this slice

    query = select(Conversation).where(Conversation.id == conversation_id)
    if idle_before is not None:
        query = query.with_for_update().execution_options(populate_existing=True)
    conversation = session.scalars(query).first()
    if conversation is None:
        return False
    if idle_before is not None and _aware(conversation.last_activity_at) >= idle_before:
        return False
    erasure.enqueue(session, erasure.RASA_TRACKER, [conversation_id])
    erasure.enqueue(session, erasure.TWILIO_MESSAGE, twilio_sids_of(session, conversation_id))
    if conversation.sender_encrypted:  # SMS: also what Twilio holds without a SID we know
        erasure.enqueue_number(session, conversation_id=conversation_id,
                               number_encrypted=conversation.sender_encrypted,
                               our_number=conversation.service_number,
                               since=_aware(conversation.created_at))
    close_escalations_of_erased(session, conversation_id)
    session.delete(conversation)
    session.flush()
    return True


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone


def twilio_sids_of(session: Session, conversation_id: str) -> list[str]:
    """Every message of the conversation Twilio holds a copy of: the inbound MessageSids
    (SMS only) and the SIDs of the replies sent through Twilio's REST API (not simulated)."""
    inbound = session.scalars(select(Message.channel_message_id).where(
        Message.conversation_id == conversation_id, Message.channel == "sms",
        Message.channel_message_id.is_not(None))).all()
    outbound = session.scalars(select(OutboxMessage.twilio_sid).where(
        OutboxMessage.conversation_id == conversation_id, OutboxMessage.twilio_sid.is_not(None),
        OutboxMessage.status != "simulated")).all()
    return [*inbound, *outbound]


def close_escalations_of_erased(session: Session, conversation_id: str) -> int:
    """A person who erases the conversation also ends their request for a coordinator: no
    backup or fallback is paged for it any more, and the console shows it closed. Audited
    without personal data (the request's own reference stays, the conversation is gone)."""
    from gateway.escalation.models import AuditEvent, Escalation  # see is_with_coordinator

    now = utcnow()
    open_ones = session.scalars(select(Escalation).where(
        Escalation.conversation_id == conversation_id, Escalation.state != "closed")).all()
    for escalation in open_ones:
        escalation.state, escalation.step_due_at = "closed", None
        escalation.outcome, escalation.closed_at, escalation.updated_at = "erased_by_person", now, now
        session.add(AuditEvent(actor="person", action="erased", escalation_id=escalation.id, at=now))
    return len(open_ones)
