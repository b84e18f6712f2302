"""The gateway's internal API for the action server: start an escalation (never the DB)."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from gateway.conversations.service import UnknownConversation, get_conversation
from gateway.deps import DatabaseDep, InternalAuth
from gateway.db import Database
from gateway.escalation.models import Region
from gateway.escalation.regions import find_region
from gateway.escalation.service import Escalations, join_open_escalation, request_escalation

router = APIRouter(prefix="/internal", dependencies=[InternalAuth], include_in_schema=False)
# This endpoint is called by the action server while Rasa is answering a web chat or SMS turn
# that holds a thread of the default pool: it runs in threads of its own, so a full default
# pool can never leave the chain Rasa -> actions -> here waiting on itself.
ESCALATION_LIMITER = anyio.CapacityLimiter(8)


def get_escalations(request: Request) -> Escalations:
    return request.app.state.escalations


EscalationsDep = Annotated[Escalations, Depends(get_escalations)]


class EscalationIn(BaseModel):
    conversation_id: str = Field(min_length=16, max_length=64)
    place: str | None = Field(default=None, max_length=100)  # what the person said
    region_code: str | None = Field(default=None, max_length=16)  # e.g. from a QR source
    urgency: Literal["danger", "normal"] = "normal"
    reason: Literal["request_human", "emergency_danger"] = "request_human"
    may_contact: bool


class EscalationOut(BaseModel):
    reference: str
    region_code: str | None
    state: str


@router.post("/escalations", response_model=EscalationOut, status_code=status.HTTP_201_CREATED)
async def start_escalation(body: EscalationIn, db: DatabaseDep,
                           escalations: EscalationsDep) -> EscalationOut:
    return await anyio.to_thread.run_sync(partial(_start, body, db, escalations),
                                          limiter=ESCALATION_LIMITER)


def _start(body: EscalationIn, db: Database, escalations: Escalations) -> EscalationOut:
    with db.session() as s:
        try:
            conversation = get_conversation(s, body.conversation_id)
        except UnknownConversation:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "unknown conversation") from None
        # The town the person named wins; else the region of the outreach source (QR code).
        region = find_region(s, body.place) if body.place else None
        for hint in (body.region_code, conversation.region_hint):
            if region is None and hint and s.get(Region, hint) is not None:
                region = hint
        open_one = join_open_escalation(
            s, conversation_id=body.conversation_id, urgency=body.urgency, reason=body.reason,
            may_contact=body.may_contact, now=escalations.clock())
        if open_one is not None:
            # Already on its way: nobody is paged again (a script cannot page the rota in a
            # loop); the person hears where their request stands.
            return EscalationOut(reference=open_one.reference, region_code=open_one.region_code,
                                 state=open_one.state)
        escalation = request_escalation(
            s, conversation_id=body.conversation_id, region_code=region, urgency=body.urgency,
            reason=body.reason, may_contact=body.may_contact, now=escalations.clock(),
        )
        escalation_id, reference = escalation.id, escalation.reference
    # Committed: now page at once, so the person hears in this turn what happened (if this
    # fails, the worker does the step later and tells them then).
    state = escalations.run_first_step_now(escalation_id) or "requested"
    return EscalationOut(reference=reference, region_code=region, state=state)
