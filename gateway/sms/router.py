from __future__ import annotations

from typing import Annotated

import logging

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse

from gateway.conversations.outage import outage_responses
from gateway.conversations.turn import outage_language
from gateway.deps import DatabaseDep
from gateway.messaging import outbox
from gateway.sms.service import BadSmsRequest, SmsContext, handle_inbound
from gateway.sms.twilio_auth import TwilioForm
from gateway.webchat.schemas import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)
router = APIRouter(prefix="/sms/twilio")


def get_sms(request: Request) -> SmsContext:
    return request.app.state.sms


SmsDep = Annotated[SmsContext, Depends(get_sms)]


def twiml(texts: list[str]) -> Response:
    response = MessagingResponse()
    for text in texts:
        response.message(text)
    return Response(str(response), media_type="application/xml")


@router.post("/inbound")
def inbound(fields: TwilioForm, sms: SmsDep) -> Response:
    try:
        return twiml(handle_inbound(sms, fields))
    except BadSmsRequest as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except SQLAlchemyError as exc:
        # The database is down: the message cannot be kept, and the reply says so
        # (utter_unavailable_unsaved, which carries 112 and the 24/7 line), in the language of
        # their words if it can be told; words of danger get the emergency text first.
        log.error("database unavailable during an sms turn: %s", type(exc).__name__)
        body = (fields.get("Body") or "")[:MAX_MESSAGE_CHARS]
        lang = outage_language(sms.turn, body, None)
        return twiml([sms.form(name, lang) for name in outage_responses(body, lang)])


@router.post("/status", status_code=status.HTTP_204_NO_CONTENT)
def delivery_status(fields: TwilioForm, db: DatabaseDep) -> Response:
    sid, state = fields.get("MessageSid"), fields.get("MessageStatus")
    if not sid or not state:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "MessageSid and MessageStatus are required")
    with db.session() as s:
        outbox.record_status(s, twilio_sid=sid, status=state)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
