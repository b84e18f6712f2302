from __future__ import annotations

import logging
import time

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.abuse.web import guard_of
from gateway.conversations.outage import outage_responses
from gateway.conversations.service import UnknownConversation, get_conversation, messages_after
from gateway.conversations.turn import (
    TurnContext,
    erase_conversation,
    fixed_messages,
    outage_language,
    resume_message,
    take_turn,
)
from gateway.db import Database
from gateway.deps import DatabaseDep, TurnContextDep
from gateway.models import Conversation, Message
from gateway.webchat.schemas import (
    BotMessageOut,
    LaterMessageOut,
    LaterMessages,
    WebchatMessageIn,
    WebchatReply,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/webchat")
ConversationIdPath = Annotated[
    str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
ConversationIdHeader = Annotated[
    str, Header(alias="X-Conversation-Id", min_length=16, max_length=64,
                pattern=r"^[A-Za-z0-9_-]+$")]
UNKNOWN_CONVERSATION = (
    "unknown conversation_id (it may have been deleted); send without one to start again")


def _out(messages, ids: list[int | None] | None = None) -> list[BotMessageOut]:  # noqa: ANN001
    ids = ids or [None] * len(messages)
    return [BotMessageOut(text=m.text, response=m.response, machine_translated=m.machine_translated,
                          id=message_id) for m, message_id in zip(messages, ids, strict=True)]


def last_message_id(db: Database, conversation_id: str | None) -> int:
    if not conversation_id:
        return 0
    with db.session() as s:
        return s.scalar(select(func.max(Message.id))
                        .where(Message.conversation_id == conversation_id)) or 0


def stored_ids(db: Database, conversation_id: str | None, after_id: int,
               messages) -> list[int | None]:  # noqa: ANN001
    """The ids under which a turn's replies were stored: the outbound messages after `after_id`
    (the conversation's last message before the turn) that say them, in order. A message
    stored meanwhile by someone else (a coordinator, escalation news) is passed over, and a
    reply that could not be stored gets None, so the page never takes one for the other."""
    ids: list[int | None] = [None] * len(messages)
    if not conversation_id or not messages:
        return ids
    try:
        with db.session() as s:
            rows = messages_after(s, conversation_id, after_id)
            wanted = 0
            for row in rows:
                if wanted == len(messages):
                    break
                said = messages[wanted]
                if (row.text, row.response_name) == (said.text, said.response):
                    ids[wanted] = row.id
                    wanted += 1
    except SQLAlchemyError as exc:
        log.error("could not read the stored replies' ids: %s", type(exc).__name__)
    return ids


def find_original(s: Session, client_message_id: str) -> Message | None:
    """The person's web chat message stored under this client id, if it arrived before."""
    return s.scalar(select(Message).where(
        Message.channel == "webchat", Message.direction == "inbound",
        Message.channel_message_id == client_message_id))


def replies_to(s: Session, message: Message) -> list[Message]:
    """What was said to the person after `message` and before their next message: the answer
    to it (and whatever else came meanwhile, such as a coordinator's words)."""
    next_inbound = s.scalar(select(func.min(Message.id)).where(
        Message.conversation_id == message.conversation_id, Message.direction == "inbound",
        Message.id > message.id))
    rows = messages_after(s, message.conversation_id, message.id)
    return [m for m in rows if next_inbound is None or m.id < next_inbound]


def duplicate_reply(ctx: TurnContext, body: WebchatMessageIn,
                    resume: bool = True) -> WebchatReply | None:
    """The answer to a message delivered again (the page retried after a lost answer): what was
    said after it the first time, without a new turn. None if it is new. If its first turn
    never finished (the process died), this delivery answers it now (once: see
    gateway.conversations.turn.resume_message)."""
    if not body.client_message_id:
        return None
    waiting: int | None = None
    with ctx.db.session() as s:
        original = find_original(s, body.client_message_id)
        if original is None:
            return None
        if body.conversation_id and original.conversation_id != body.conversation_id:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "client_message_id belongs to a message of another conversation; "
                "make a new client_message_id for every new message")
        conversation = s.get(Conversation, original.conversation_id)
        if conversation is None:  # erased meanwhile
            raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN_CONVERSATION)
        if original.text != body.text:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                "client_message_id was already used for a different text; "
                "make a new client_message_id for every new message")
        if resume and original.awaiting_reply:
            waiting = original.id
        else:
            log.info("duplicate delivery of a web chat message answered without a new turn")
            return WebchatReply(
                conversation_id=conversation.id,
                language=original.language or conversation.language or ctx.default_language,
                messages=[BotMessageOut(text=m.text, response=m.response_name,
                                        machine_translated=m.is_machine_translated, id=m.id)
                          for m in replies_to(s, original)],
                duplicate=True)
    resume_message(ctx, waiting)
    return duplicate_reply(ctx, body, resume=False)


@router.post("/messages", response_model=WebchatReply,
             responses={403: {"description": "the conversation is blocked for a while (the "
                                             "answer still carries 112)"},
                        429: {"description": "too many messages: not sent, try again later "
                                             "(the answer carries 112)"}})
def post_message(body: WebchatMessageIn, ctx: TurnContextDep, request: Request):  # noqa: ANN201
    arrived = time.monotonic()
    try:
        again = duplicate_reply(ctx, body)
        if again is not None:
            return again
        # Blocks and flood limits (gateway.abuse): danger and the keywords always pass.
        refused = guard_of(request).webchat_gate(
            ctx, request, conversation_id=body.conversation_id, text=body.text,
            language=body.language)
        if refused is not None:
            return refused.json(ctx, body.conversation_id)
        before = last_message_id(ctx.db, body.conversation_id)
        try:
            result = take_turn(
                ctx,
                channel="webchat",
                conversation_id=body.conversation_id,
                text=body.text,
                language=body.language,
                source=body.source,
                channel_message_id=body.client_message_id,
                started=arrived,
            )
        except IntegrityError:
            # The same message delivered twice at the same moment: the other delivery stored
            # it first (take_turn stores the person's message before it asks Rasa) and takes
            # the turn; this one answers with what was said so far (the page polls for the
            # rest). Any other integrity error goes on as database trouble (503 below).
            again = duplicate_reply(ctx, body)
            if again is None:
                raise
            return again
    except UnknownConversation:
        raise HTTPException(status.HTTP_404_NOT_FOUND, UNKNOWN_CONVERSATION) from None
    except SQLAlchemyError as exc:
        # The database is down: the message cannot be kept. Not "your message is saved"
        # (utter_unavailable): utter_unavailable_unsaved says it was not, with 112 and the
        # 24/7 line; words of danger get the emergency text first (gateway.conversations.outage).
        log.error("database unavailable during web chat turn: %s", type(exc).__name__)
        lang = outage_language(ctx, body.text, body.language)
        messages = fixed_messages(
            ctx.catalog, [(name, lang) for name in outage_responses(body.text, lang)], "webchat")
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"conversation_id": body.conversation_id, "language": lang,
                     "messages": [m.model_dump() for m in _out(messages)],
                     "detail": "message not saved; please send it again later"},
        )
    ids = stored_ids(ctx.db, result.conversation_id, before, result.messages)
    return WebchatReply(conversation_id=result.conversation_id, language=result.language,
                        messages=_out(result.messages, ids))


@router.get("/conversation/messages", response_model=LaterMessages)
def later_messages(
    conversation_id: ConversationIdHeader,
    db: DatabaseDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> LaterMessages:
    """For the page to poll: what was said to the person after message `after`. The
    conversation id (the secret) travels in the X-Conversation-Id header, never in the URL
    (proxies and servers log URLs)."""
    return _later_messages(db, conversation_id, after)


@router.get("/conversations/{conversation_id}/messages", response_model=LaterMessages,
            deprecated=True)
def later_messages_by_path(
    conversation_id: ConversationIdPath,
    db: DatabaseDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> LaterMessages:
    """Deprecated: the id in the URL ends up in proxy logs. Kept one release for pages loaded
    before the header form (GET /api/webchat/conversation/messages) existed."""
    return _later_messages(db, conversation_id, after)


def _later_messages(db: Database, conversation_id: str, after: int) -> LaterMessages:
    with db.session() as s:
        try:
            get_conversation(s, conversation_id)
        except UnknownConversation:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown conversation_id") from None
        rows = messages_after(s, conversation_id, after)
        return LaterMessages(messages=[
            LaterMessageOut(id=m.id, text=m.text, response=m.response_name,
                            machine_translated=m.is_machine_translated) for m in rows])


@router.delete("/conversation", response_model=WebchatReply)
def delete_conversation(conversation_id: ConversationIdHeader, ctx: TurnContextDep) -> WebchatReply:
    """The page's "delete this conversation" (the id in the X-Conversation-Id header): erase it
    here and in Rasa's tracker, and say so in the conversation's language."""
    return _delete_conversation(ctx, conversation_id)


@router.delete("/conversations/{conversation_id}", response_model=WebchatReply, deprecated=True)
def delete_conversation_by_path(conversation_id: ConversationIdPath,
                                ctx: TurnContextDep) -> WebchatReply:
    """Deprecated (the id in the URL ends up in proxy logs); kept one release for pages loaded
    before DELETE /api/webchat/conversation existed."""
    return _delete_conversation(ctx, conversation_id)


def _delete_conversation(ctx: TurnContext, conversation_id: str) -> WebchatReply:
    with ctx.db.session() as s:
        try:
            lang = get_conversation(s, conversation_id).language or ctx.default_language
        except UnknownConversation:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown conversation_id") from None
    erase_conversation(ctx, conversation_id)
    messages = fixed_messages(ctx.catalog, [("utter_conversation_deleted", lang)], "webchat")
    return WebchatReply(conversation_id=None, language=lang, messages=_out(messages))
