"""One inbound SMS: dedupe, identify the sender by keyed hash, keywords, rate limits, then the
same turn as every channel, answered by TwiML in time or later through the outbox."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.abuse import blocks
from gateway.config import Settings
from gateway.conversations import service as conversations
from gateway.conversations.danger import signals_danger
from gateway.conversations.keywords import match_keyword
from gateway.escalation.service import Escalations
from gateway.conversations.turn import (
    ResumeHooks,
    TurnContext,
    TurnResult,
    resume_message,
    take_turn,
)
from gateway.models import Conversation, Message, utcnow
from gateway.messaging import outbox
from gateway.sms import limits
from gateway.nlg.router import runtime_values
from gateway.sms.keywords import last_answer, match_sms_keyword, more_reply
from gateway.messaging.vault import NumberVault
from gateway.messaging.segments import plan_messages
from gateway.webchat.schemas import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)
CHANNEL = "sms"


class BadSmsRequest(Exception):
    pass


@dataclass
class SmsContext:
    turn: TurnContext
    settings: Settings
    vault: NumberVault
    escalations: Escalations | None = None
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(16, "sms-turn"))

    def form(self, name: str, lang: str) -> str:
        return self.turn.catalog.render(name, lang, "sms", runtime_values(self.settings))

    def is_discreet(self, conversation: Conversation) -> bool:
        return (conversation.service_number or "") in self.settings.sms_discreet_numbers


def _find_or_open(s: Session, sms: SmsContext, number: str, to: str) -> Conversation:
    sender_hash = sms.vault.sender_hash(number)
    conversation = s.scalar(
        select(Conversation)
        .where(Conversation.channel == CHANNEL, Conversation.sender_hash == sender_hash)
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )
    if conversation is None:
        conversation = conversations.open_conversation(s, channel=CHANNEL)
        conversation.sender_hash = sender_hash
        conversation.sender_encrypted = sms.vault.encrypt(number)
        conversation.service_number = to or None
        s.flush()
    return conversation


def _earlier_delivery(s: Session, message_sid: str) -> tuple[int, bool] | None:
    """(id, still waiting for its answer) of the message stored under this MessageSid."""
    row = s.execute(
        select(Message.id, Message.awaiting_reply)
        .where(Message.channel == CHANNEL, Message.channel_message_id == message_sid)
    ).first()
    return None if row is None else (row[0], bool(row[1]))


def _notice_already_sent(s: Session, conversation_id: str, since) -> bool:  # noqa: ANN001
    return s.scalar(
        select(Message.id).where(
            Message.conversation_id == conversation_id, Message.response_name == "utter_rate_limited",
            Message.created_at >= since,
        ).limit(1)
    ) is not None


def handle_inbound(sms: SmsContext, fields: dict[str, str]) -> list[str]:
    """The texts to answer with by TwiML now (empty: nothing now, or sent later)."""
    arrived = time.monotonic()
    message_sid = fields.get("MessageSid") or fields.get("SmsSid")
    number = fields.get("From", "").strip()
    if not message_sid or not number:
        raise BadSmsRequest("MessageSid and From are required")
    to = fields.get("To", "").strip()
    body = (fields.get("Body") or "").strip()
    has_media = (fields.get("NumMedia") or "0").strip() not in ("", "0")
    settings = sms.settings
    db = sms.turn.db

    with db.session() as s:
        earlier = _earlier_delivery(s, message_sid)
    if earlier is not None:
        message_id, is_waiting = earlier
        if not is_waiting:
            log.info("duplicate delivery of an inbound sms ignored")
            return []
        # Stored, but its turn never finished (the process died): this retry answers it, if
        # the lease of the turn has expired (else the turn is alive, or the sweep gets it).
        return _answer_in_time(sms, lambda on_complete: resume_message(
            sms.turn, message_id, discreet=sms.is_discreet, on_complete=on_complete))

    with db.session() as s:
        if sms.escalations is not None:
            # A coordinator answering a page ("ACK K7Q2X3") is not a person seeking help.
            staff_reply = sms.escalations.acknowledge_by_sms(
                s, sender_hash=sms.vault.sender_hash(number), text=body)
            if staff_reply is not None:
                return [staff_reply]
        # A blocked sender (gateway.abuse.blocks): 112 at most once a day, no turn, no page;
        # DELETE and STOP still go through.
        blocked = blocks.blocked_sms_reply(
            s, sender_hash=sms.vault.sender_hash(number), body=body,
            sms_keyword=match_sms_keyword(body), catalog=sms.turn.catalog,
            default_language=sms.turn.default_language, now=utcnow())
        if blocked is not None:
            return blocked
        conversation = _find_or_open(s, sms, number, to)
        conversation_id, lang = conversation.id, conversation.language or sms.turn.default_language
        since = utcnow() - timedelta(seconds=settings.rate_limit_window_seconds)
        keyword = match_sms_keyword(body)
        # Danger and keywords (DELETE above all) are never rate limited.
        over_limit = limits.record_arrival(
            s, sender_hash=conversation.sender_hash or sms.vault.sender_hash(number), now=utcnow(),
            settings=settings, is_exempt=bool(
                keyword or match_keyword(body) or signals_danger(body, lang)))
        fixed: str | None = None
        if over_limit:
            fixed = None if _notice_already_sent(s, conversation_id, since) else "utter_rate_limited"
        elif not body:
            fixed = "utter_sms_text_only"
        elif keyword == "stop":
            conversation.is_opted_out, fixed = True, "utter_sms_stopped"
        elif keyword == "start":
            conversation.is_opted_out, fixed = False, "utter_sms_started"
        elif keyword == "help":
            fixed = "utter_sms_help"
        replies: list[str] = [sms.form(fixed, lang)] if fixed else []
        if not over_limit and body and keyword == "more":
            # The full answer the person asked for, all of it (beyond the per-turn cap: they
            # asked), recorded under the answer's name so that a second MORE repeats it.
            # Nothing answered yet: the HELP text (what the line is, the keywords, 112).
            answered = last_answer(s, conversation_id)
            fixed = answered or "utter_sms_help"
            replies = more_reply(sms.turn.catalog, answered, lang, runtime_values(settings))
        if over_limit or fixed:
            try:
                with s.begin_nested():
                    conversations.record_message(
                        s, conversation, direction="inbound",
                        text=body or ("(media)" if has_media else "(empty)"),
                        language=lang, channel_message_id=message_sid)
                    for reply in replies:
                        conversations.record_message(
                            s, conversation, direction="outbound", text=reply,
                            language=lang, response_name=fixed)
            except IntegrityError:
                return []  # the same MessageSid, delivered twice at once
            return replies

    is_discreet = to in settings.sms_discreet_numbers
    return _answer_in_time(sms, lambda on_complete: take_turn(
        sms.turn, channel=CHANNEL, conversation_id=conversation_id,
        text=body[:MAX_MESSAGE_CHARS], channel_message_id=message_sid, discreet=is_discreet,
        on_complete=on_complete, started=arrived))


class _Delivery:
    """Who sends a turn's reply: the webhook's TwiML if the turn completes within the budget,
    else the outbox. Decided once, under a lock, in the transaction that stores the reply, so
    a turn that completes just as the budget runs out is sent one way only."""

    def __init__(self, sms: SmsContext) -> None:
        self.sms = sms
        self.lock = threading.Lock()
        self.deferred = False
        self.by_twiml = False

    def on_complete(self, s: Session, conversation: Conversation, messages) -> None:  # noqa: ANN001
        with self.lock:
            if self.deferred:
                enqueue_replies(self.sms, s, conversation, [m.text for m in messages])
            else:
                self.by_twiml = True

    def defer(self) -> bool:
        """The budget is spent: True if the outbox will send the reply, False if the turn has
        already completed for TwiML (wait for it)."""
        with self.lock:
            if self.by_twiml:
                return False
            self.deferred = True
            return True


def _answer_in_time(sms: SmsContext,
                    turn: Callable[[Callable], TurnResult | None]) -> list[str]:
    settings = sms.settings
    delivery = _Delivery(sms)
    future = sms.executor.submit(turn, delivery.on_complete)
    try:
        result = future.result(timeout=settings.sms_reply_budget_seconds)
    except FutureTimeout:
        if delivery.defer():
            log.info("sms reply not ready within %.1fs: it will go through the outbox",
                     settings.sms_reply_budget_seconds)
            future.add_done_callback(_log_failure)
            return []
        result = future.result()
    except IntegrityError:
        return []
    if result is None or result.superseded:
        return []  # nothing to answer now: answered already, or another worker answers
    return plan_messages([m.text for m in result.messages], settings.sms_max_segments_per_turn)


def _log_failure(future: Future) -> None:
    try:
        future.result()
    except IntegrityError:
        return
    except Exception:  # noqa: BLE001
        log.exception("deferred sms turn failed (the sweep answers it)")


def enqueue_replies(sms: SmsContext, s: Session, conversation: Conversation,
                    texts: list[str]) -> None:
    if not conversation.sender_encrypted:
        return
    for text in plan_messages(texts, sms.settings.sms_max_segments_per_turn):
        outbox.enqueue(s, conversation_id=conversation.id,
                       to_encrypted=conversation.sender_encrypted, body=text)


def resume_hooks(sms: SmsContext) -> ResumeHooks:
    """How the sweep answers an interrupted SMS turn: through the outbox."""
    return ResumeHooks(
        discreet=sms.is_discreet,
        on_complete=lambda s, conversation, messages: enqueue_replies(
            sms, s, conversation, [m.text for m in messages]))
