"""Conversations and their messages. Services flush; the caller's session scope commits."""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.models import Conversation, Message, utcnow


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


def delete_conversation(session: Session, conversation_id: str) -> bool:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return False
    close_escalations_of_erased(session, conversation_id)
    session.delete(conversation)
    session.flush()
    return True


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
