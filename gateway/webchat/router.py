from __future__ import annotations

import logging

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from gateway.conversations.service import UnknownConversation, get_conversation, messages_after
from gateway.conversations.turn import fixed_messages, take_turn
from gateway.deps import DatabaseDep, TurnContextDep
from gateway.webchat.schemas import (
    BotMessageOut,
    LaterMessageOut,
    LaterMessages,
    WebchatMessageIn,
    WebchatReply,
)

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/webchat")


def _out(messages) -> list[BotMessageOut]:  # noqa: ANN001
    return [BotMessageOut(text=m.text, response=m.response,
                          machine_translated=m.machine_translated) for m in messages]


@router.post("/messages", response_model=WebchatReply)
def post_message(body: WebchatMessageIn, ctx: TurnContextDep):  # noqa: ANN201
    try:
        result = take_turn(
            ctx,
            channel="webchat",
            conversation_id=body.conversation_id,
            text=body.text,
            language=body.language,
        )
    except UnknownConversation:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "unknown conversation_id (it may have been deleted); send without one to start again",
        ) from None
    except SQLAlchemyError as exc:
        # The database is down: the message cannot be kept, but the person still gets 112.
        log.error("database unavailable during web chat turn: %s", type(exc).__name__)
        lang = body.language if body.language and ctx.catalog.has_language(body.language) else (
            ctx.default_language)
        messages = fixed_messages(ctx.catalog, [("utter_unavailable", lang)], "webchat")
        return JSONResponse(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            content={"conversation_id": body.conversation_id, "language": lang,
                     "messages": [m.model_dump() for m in _out(messages)],
                     "detail": "message not saved; please send it again later"},
        )
    return WebchatReply(conversation_id=result.conversation_id, language=result.language,
                        messages=_out(result.messages))


@router.get("/conversations/{conversation_id}/messages", response_model=LaterMessages)
def later_messages(
    conversation_id: Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
    db: DatabaseDep,
    after: Annotated[int, Query(ge=0)] = 0,
) -> LaterMessages:
    """For the page to poll (the conversation id is the secret): what was said to the person
    after message `after`."""
    with db.session() as s:
        try:
            get_conversation(s, conversation_id)
        except UnknownConversation:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown conversation_id") from None
        rows = messages_after(s, conversation_id, after)
        return LaterMessages(messages=[
            LaterMessageOut(id=m.id, text=m.text, response=m.response_name,
                            machine_translated=m.is_machine_translated) for m in rows])
