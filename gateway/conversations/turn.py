"""One user turn, the same for every channel: record, decide the language, ask Rasa, record.

The inbound message is committed before Rasa is called, so a Rasa outage or a crash loses
nothing; when Rasa does not answer the user still gets the fixed answer with 112.

A stored message waits for its answer (`Message.awaiting_reply`) under a lease held by the
worker taking the turn. If that worker dies (kill -9, a crash between storing and answering),
a retry of the same message (`resume_message`) or the sweep (`TurnSweeper`, every replica,
claiming with a conditional UPDATE) takes the turn over once the lease has expired; whoever
completes the turn first under the current lease stores the replies, the others are told they
were superseded and send nothing. Rasa gets a budget for the whole turn (`rasa_budget_seconds`)
and a breaker remembers for a while that it is down, so the fixed answer comes in time.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.bot.client import BotMessage, RasaClient, RasaUnavailable
from gateway.conversations import service
from gateway.conversations.danger import (
    EMERGENCY_MIN_CONFIDENCE,
    NET_MIN_NLU_CONFIDENCE,
    is_short_message,
    signals_danger,
)
from gateway.conversations.keywords import match_keyword
from gateway.db import Database
from gateway.background import PeriodicWorker
from gateway.language.service import Detector, resolve_language
from gateway.models import Conversation, Message, utcnow
from gateway.outreach import service as outreach
from translations.catalog import Catalog
from translations.mt import NoTranslator, TranslationUnavailable, Translator

log = logging.getLogger(__name__)
Channel = Literal["webchat", "sms"]
FORM_FOR_CHANNEL = {"webchat": "web", "sms": "sms"}
# Responses the gateway sends itself, without Rasa (the catalog must have them too).
GATEWAY_RESPONSES = frozenset({
    "utter_unavailable", "utter_language_unsupported", "utter_conversation_deleted",
    "utter_language_menu", "utter_greet", "utter_language_hint",
    # SMS line (gateway.sms) and discreet numbers (gateway.nlg)
    "utter_sms_stopped", "utter_sms_started", "utter_sms_help", "utter_sms_text_only",
    "utter_rate_limited", "utter_greet_discreet",
    # escalation status (gateway.escalation.notify)
    "utter_handoff_paged", "utter_handoff_backup", "utter_handoff_fallback",
    "utter_handoff_acknowledged", "utter_handoff_closed",
})


# A turn older than this is not answered any more by the sweep (an SMS out of the blue hours
# later could be read by the wrong person); it is released and logged (as a count).
RESUME_MAX_AGE = timedelta(hours=1)
# After this many takes of the same turn, the sweep answers with the fixed text (112) without
# asking Rasa: a message that keeps crashing a turn still gets an answer.
MAX_TURN_ATTEMPTS = 3
# Of the turn's budget, kept for storing the replies and answering after Rasa is given up.
BUDGET_RESERVE_SECONDS = 1.0
Clock = Callable[[], datetime]
# Called inside the transaction that stores a turn's replies (e.g. SMS: put them in the outbox).
OnComplete = Callable[[Session, Conversation, list[BotMessage]], None]


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str | None  # None once the person erased the conversation
    language: str
    messages: list[BotMessage]
    is_degraded: bool = False
    # Another worker took this turn over (its lease had expired): it answers, this one must not.
    superseded: bool = False


class RasaBreaker:
    """Remembers that Rasa failed, for `open_seconds`: turns meanwhile get the fixed answer at
    once instead of waiting out a connect or read timeout. After that one turn probes Rasa
    (the others still get the fixed answer until it succeeds)."""

    def __init__(self, open_seconds: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.open_seconds = open_seconds
        self.clock = clock
        self._down_until: float | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._down_until is None:
                return True
            now = self.clock()
            if now < self._down_until:
                return False
            self._down_until = now + self.open_seconds  # this caller probes; the rest wait
            return True

    def failed(self) -> None:
        with self._lock:
            self._down_until = self.clock() + self.open_seconds

    def succeeded(self) -> None:
        with self._lock:
            self._down_until = None

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._down_until is not None and self.clock() < self._down_until


@dataclass
class TurnContext:
    db: Database
    rasa: RasaClient
    catalog: Catalog
    default_language: str
    detect: Detector | None = None
    allowed_languages: frozenset[str] | None = None
    translator: Translator = NoTranslator()
    # The whole turn, from arrival to the fixed answer when Rasa does not answer.
    rasa_budget_seconds: float = 8.0
    breaker: RasaBreaker = field(default_factory=RasaBreaker)
    # How long a worker holds a turn before a retry or the sweep may take it over: longer
    # than any live turn (the Rasa budget plus the danger check's share, plus the database).
    lease: timedelta = timedelta(seconds=45)
    clock: Clock = utcnow
    rasa_calls: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(16, thread_name_prefix="rasa-call"))

    def supports(self, lang: str) -> bool:
        if self.allowed_languages is not None and lang not in self.allowed_languages:
            return False
        return self.catalog.has_language(lang) or self.is_machine_translated(lang)

    def is_machine_translated(self, lang: str) -> bool:
        """A language without curated content that Argos can carry both ways via English."""
        return (
            not self.catalog.has_language(lang)
            and self.translator.can_translate(lang, "en")
            and self.translator.can_translate("en", lang)
        )


def fixed_messages(catalog: Catalog, names: list[tuple[str, str]], channel: Channel) -> list[BotMessage]:
    form = FORM_FOR_CHANNEL[channel]
    return [BotMessage(text=catalog.render(name, lang, form), response=name) for name, lang in names]


def take_turn(
    ctx: TurnContext,
    *,
    channel: Channel,
    conversation_id: str | None,
    text: str,
    language: str | None = None,
    source: str | None = None,  # outreach source code (QR card), for a new conversation only
    channel_message_id: str | None = None,
    discreet: bool = False,
    on_complete: OnComplete | None = None,
    started: float | None = None,  # time.monotonic() when the request arrived
) -> TurnResult:
    started = time.monotonic() if started is None else started
    keyword = match_keyword(text)
    if keyword and keyword.kind == "choose_language":
        language = keyword.language
    with ctx.db.session() as s:
        opened_from = None
        if conversation_id:
            conversation = service.get_conversation(s, conversation_id)
        else:
            conversation = service.open_conversation(s, channel=channel)
            opened_from = outreach.opened_from(s, source)
            if opened_from is not None:
                conversation.region_hint = opened_from.region_code
        decision = resolve_language(
            explicit=language,
            sticky=conversation.language,
            text=text,
            supported=ctx.supports,
            default=ctx.default_language,
            detect=ctx.detect,
            sticky_source=conversation.language_source,
        )
        if decision.source in ("explicit", "detected", "guessed") or conversation.language is None:
            conversation.language = decision.language
            conversation.language_source = decision.source
        if opened_from is not None:
            outreach.count_conversation(s, source_code=opened_from.count_code,
                                        language=decision.language)
        inbound = service.record_message(
            s,
            conversation,
            direction="inbound",
            text=text,
            language=decision.language,
            channel_message_id=channel_message_id,
        )
        token = _hold(ctx, inbound)
        message_id = inbound.id
        conversation_id = conversation.id
        region_hint = conversation.region_hint
        with_coordinator = service.is_with_coordinator(s, conversation_id)
    lang = decision.language

    if keyword and keyword.kind == "delete":
        erase_conversation(ctx, conversation_id)
        messages = fixed_messages(ctx.catalog, [("utter_conversation_deleted", lang)], channel)
        return TurnResult(None, lang, messages)
    plan = _Plan(conversation_id=conversation_id, text=text, lang=lang, keyword=keyword,
                 unsupported_choice=decision.unsupported_choice,
                 needs_language_hint=decision.needs_language_hint,
                 with_coordinator=with_coordinator, region_hint=region_hint, discreet=discreet)
    messages, is_degraded = _answer(ctx, channel, plan, deadline=rasa_deadline(ctx, started))
    completed = _complete(ctx, message_id, token, conversation_id, lang, messages, on_complete)
    return TurnResult(conversation_id, lang, messages, is_degraded, superseded=not completed)


@dataclass(frozen=True)
class _Plan:
    conversation_id: str
    text: str
    lang: str
    keyword: Any
    unsupported_choice: bool
    needs_language_hint: bool
    with_coordinator: bool
    region_hint: str | None
    discreet: bool


def _answer(ctx: TurnContext, channel: Channel, plan: _Plan, *,
            deadline: float) -> tuple[list[BotMessage], bool]:
    """What to say to a stored message: (messages, whether Rasa could not be asked)."""
    keyword, lang, conversation_id, text = plan.keyword, plan.lang, plan.conversation_id, plan.text
    if plan.with_coordinator and not keyword:
        # A coordinator has the conversation: the message is theirs to answer, not the bot's,
        # except that danger still gets the 112 answer at once.
        return danger_first(ctx, conversation_id, text, lang, channel, [], asked_rasa=False), False
    if keyword and keyword.kind == "menu":
        return fixed_messages(ctx.catalog, [("utter_language_menu", lang)], channel), False
    if keyword and keyword.kind == "choose_language" and not plan.unsupported_choice:
        return fixed_messages(ctx.catalog, [("utter_greet", lang)], channel), False
    if plan.unsupported_choice:
        return fixed_messages(
            ctx.catalog,
            [("utter_language_unsupported", "en"), ("utter_language_unsupported", "sv"),
             ("utter_language_menu", lang)],
            channel,
        ), False
    metadata = {"language": lang, "channel": channel, "region": plan.region_hint}
    if plan.discreet:
        metadata["discreet"] = True
    is_degraded = False
    try:
        messages = ask_rasa(ctx, deadline, ctx.rasa.send, conversation_id,
                            text_for_nlu(ctx, text, lang), metadata)
        if not messages:
            # Rasa answered with nothing (e.g. its NLG call failed): never leave a person
            # without an answer.
            raise RasaUnavailable("empty reply")
    except (RasaUnavailable, TranslationUnavailable):
        messages = fixed_messages(ctx.catalog, [("utter_unavailable", lang)], channel)
        is_degraded = True
    messages = danger_first(ctx, conversation_id, text, lang, channel, messages,
                            asked_rasa=not is_degraded, deadline=deadline)
    if plan.needs_language_hint:
        # Not sure which language this is: say how to choose, in a line any reader can use.
        messages += fixed_messages(ctx.catalog, [("utter_language_hint", lang)], channel)
    return messages, is_degraded


def rasa_deadline(ctx: TurnContext, started: float) -> float:
    """When to stop waiting for Rasa: the turn's budget from the request's arrival, less a
    reserve for what comes after (the danger check's share is inside; storing the replies and
    answering are not), so the fixed answer reaches the person within the budget."""
    reserve = min(BUDGET_RESERVE_SECONDS, ctx.rasa_budget_seconds / 4)
    return started + ctx.rasa_budget_seconds - reserve


def ask_rasa(ctx: TurnContext, deadline: float, call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)` to Rasa, given up at `deadline` (time.monotonic()) whatever the HTTP client's
    own timeouts would allow (they count per connect and per read); RasaUnavailable then, and
    at once while the breaker remembers that Rasa is down."""
    if not ctx.breaker.allow():
        raise RasaUnavailable("recently down")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise RasaUnavailable("no time left in the turn's budget")
    future = ctx.rasa_calls.submit(call, *args)
    try:
        result = future.result(timeout=remaining)
    except FutureTimeout:
        log.warning("rasa did not answer within the turn's budget")
        ctx.breaker.failed()
        raise RasaUnavailable("budget spent") from None
    except RasaUnavailable:
        ctx.breaker.failed()
        raise
    ctx.breaker.succeeded()
    return result


# --- the turn's lease, its completion, and taking it over -----------------------------------
def _hold(ctx: TurnContext, inbound: Message) -> str:
    """Mark a just-stored message as waiting for its answer, held by this worker."""
    token = secrets.token_hex(8)
    inbound.awaiting_reply = True
    inbound.turn_claim_token = token
    inbound.turn_claimed_until = ctx.clock() + ctx.lease
    inbound.turn_attempts = 1
    return token


def _complete(ctx: TurnContext, message_id: int, token: str, conversation_id: str, lang: str,
              messages: list[BotMessage], on_complete: OnComplete | None) -> bool:
    """Store the replies and end the wait, in one transaction, if this worker still holds the
    turn. False: another worker took it over (or the conversation was erased): say nothing."""
    try:
        with ctx.db.session() as s:
            ended = s.execute(
                update(Message)
                .where(Message.id == message_id, Message.turn_claim_token == token,
                       Message.awaiting_reply.is_(True))
                .values(awaiting_reply=False, turn_claim_token=None, turn_claimed_until=None)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
            if not ended:
                log.info("a turn was taken over by another worker; its answer is not sent twice")
                return False
            conversation = service.get_conversation(s, conversation_id)
            for message in messages:
                service.record_message(
                    s, conversation, direction="outbound", text=message.text, language=lang,
                    response_name=message.response,
                    is_machine_translated=message.machine_translated)
            if messages and messages[0].response == "utter_emergency":
                raise_open_request_to_danger(s, conversation_id, ctx.clock())
            if on_complete is not None:
                on_complete(s, conversation, messages)
    except service.UnknownConversation:
        return False
    except SQLAlchemyError as exc:
        # The person still gets the answer; only our copy of it is missing (and the message
        # still waits: the sweep answers it again once the database is back).
        log.error("could not record replies: %s", type(exc).__name__)
    return True


def raise_open_request_to_danger(s: Session, conversation_id: str, now: datetime) -> None:
    """The turn answered with the emergency text first: a request of this conversation that is
    still open or held by a coordinator becomes urgent (danger), is audited, and sorts first in
    the console. A closed request stays closed (the person is back with the assistant)."""
    from gateway.escalation.models import Escalation  # the escalation slice builds on this one
    from gateway.escalation.service import audit

    escalation = s.scalar(
        select(Escalation).where(Escalation.conversation_id == conversation_id,
                                 Escalation.state != "closed")
        .order_by(Escalation.id).limit(1).with_for_update())
    if escalation is None or escalation.urgency == "danger":
        return
    escalation.urgency, escalation.reason, escalation.updated_at = "danger", "emergency_danger", now
    audit(s, actor="person", action="raised_to_danger", escalation_id=escalation.id,
          detail="a later message was danger", now=now)


def _unclaimed(now: datetime):  # noqa: ANN202
    return or_(Message.turn_claimed_until.is_(None), Message.turn_claimed_until < now)


def claim_turn(ctx: TurnContext, message_id: int) -> str | None:
    """Take over a stored message's turn if it still waits and nobody holds it (a conditional
    UPDATE: of several replicas or retries, exactly one gets it). The claim token, or None."""
    now, token = ctx.clock(), secrets.token_hex(8)
    with ctx.db.session() as s:
        taken = s.execute(
            update(Message)
            .where(Message.id == message_id, Message.awaiting_reply.is_(True), _unclaimed(now))
            .values(turn_claim_token=token, turn_claimed_until=now + ctx.lease,
                    turn_attempts=Message.turn_attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
    return token if taken else None


def is_awaiting_reply(ctx: TurnContext, message_id: int) -> bool:
    with ctx.db.session() as s:
        return bool(s.scalar(select(Message.awaiting_reply).where(Message.id == message_id)))


def resume_turn(ctx: TurnContext, message_id: int, token: str, *,
                discreet: Callable[[Conversation], bool] | None = None,
                on_complete: OnComplete | None = None) -> TurnResult | None:
    """Answer a stored message whose turn this worker has claimed (`claim_turn`). None if there
    is nothing to answer any more (answered meanwhile, erased, taken over)."""
    started = time.monotonic()
    with ctx.db.session() as s:
        message = s.get(Message, message_id)
        if message is None or not message.awaiting_reply or message.turn_claim_token != token:
            return None
        conversation = s.get(Conversation, message.conversation_id)
        if conversation is None:
            return None
        text, attempts, channel = message.text, message.turn_attempts, conversation.channel
        lang = message.language or conversation.language or ctx.default_language
        conversation_id, region_hint = conversation.id, conversation.region_hint
        with_coordinator = service.is_with_coordinator(s, conversation_id)
        is_discreet = bool(discreet and discreet(conversation))
    keyword = match_keyword(text)
    if keyword and keyword.kind == "delete":
        erase_conversation(ctx, conversation_id)
        return TurnResult(None, lang, fixed_messages(
            ctx.catalog, [("utter_conversation_deleted", lang)], channel))
    if attempts > MAX_TURN_ATTEMPTS:
        # This message's turn failed again and again: the fixed answer, without Rasa.
        messages = danger_first(ctx, conversation_id, text, lang, channel, fixed_messages(
            ctx.catalog, [("utter_unavailable", lang)], channel), asked_rasa=False)
        is_degraded = True
    else:
        plan = _Plan(conversation_id=conversation_id, text=text, lang=lang, keyword=keyword,
                     unsupported_choice=False, needs_language_hint=False,
                     with_coordinator=with_coordinator, region_hint=region_hint,
                     discreet=is_discreet)
        messages, is_degraded = _answer(ctx, channel, plan, deadline=rasa_deadline(ctx, started))
    if not _complete(ctx, message_id, token, conversation_id, lang, messages, on_complete):
        return None
    return TurnResult(conversation_id, lang, messages, is_degraded)


def resume_message(ctx: TurnContext, message_id: int, **hooks: Any) -> TurnResult | None:
    """A message delivered again (a retry) whose first turn never finished: take it over and
    answer it now, if its lease has expired. None when it is answered or still held."""
    token = claim_turn(ctx, message_id)
    if token is None:
        return None
    log.info("resuming an interrupted turn on a repeated delivery")
    return resume_turn(ctx, message_id, token, **hooks)


@dataclass
class ResumeHooks:
    """How a channel answers a turn the sweep completes (the web chat: none, the page polls)."""

    discreet: Callable[[Conversation], bool] | None = None
    on_complete: OnComplete | None = None


class TurnSweeper:
    """Answers what was stored without a completed turn (a worker died): at start and then
    every `poll_seconds`, in every replica; claims are conditional UPDATEs, so each message is
    answered once."""

    def __init__(self, ctx: TurnContext, hooks: dict[str, ResumeHooks] | None = None,
                 batch_size: int = 20) -> None:
        self.ctx = ctx
        self.hooks = hooks or {}
        self.batch_size = batch_size
        self._worker = PeriodicWorker("turn-sweep", self.run_once)

    def release_stale(self) -> int:
        now = self.ctx.clock()
        with self.ctx.db.session() as s:
            released = s.execute(
                update(Message)
                .where(Message.awaiting_reply.is_(True), Message.created_at < now - RESUME_MAX_AGE,
                       _unclaimed(now))
                .values(awaiting_reply=False, turn_claim_token=None, turn_claimed_until=None)
                .execution_options(synchronize_session=False)
            ).rowcount
        if released:
            log.warning("%d interrupted turns were too old to answer and were released", released)
        return released

    def claim_due(self) -> list[tuple[int, str, str]]:
        """(message id, channel, claim token) for the waiting turns this worker now holds."""
        now = self.ctx.clock()
        with self.ctx.db.session() as s:
            candidates = s.execute(
                select(Message.id, Message.channel)
                .where(Message.awaiting_reply.is_(True), _unclaimed(now),
                       Message.created_at >= now - RESUME_MAX_AGE)
                .order_by(Message.id).limit(self.batch_size)
            ).all()
        claimed = []
        for message_id, channel in candidates:
            token = claim_turn(self.ctx, message_id)
            if token is not None:
                claimed.append((message_id, channel, token))
        return claimed

    def _resume(self, message_id: int, channel: str, token: str) -> None:
        hooks = self.hooks.get(channel, ResumeHooks())
        try:
            resume_turn(self.ctx, message_id, token, discreet=hooks.discreet,
                        on_complete=hooks.on_complete)
        except Exception:  # noqa: BLE001 - the lease expires; a later round tries again
            log.exception("resuming an interrupted turn failed")

    def run_once(self) -> int:
        self.release_stale()
        claimed = self.claim_due()
        if claimed:
            # In parallel: each may wait for Rasa up to the budget, and all within their lease.
            with ThreadPoolExecutor(min(len(claimed), 8), thread_name_prefix="turn-sweep") as pool:
                list(pool.map(lambda claim: self._resume(*claim), claimed))
            log.info("answered %d interrupted turns", len(claimed))
        return len(claimed)

    def start(self, poll_seconds: float) -> None:
        self._worker.start(poll_seconds)

    def stop(self) -> None:
        self._worker.stop()


def danger_first(ctx: TurnContext, conversation_id: str, text: str, lang: str,
                 channel: Channel, messages: list[BotMessage], *, asked_rasa: bool,
                 deadline: float | None = None) -> list[BotMessage]:
    """Danger wins: when the phrase safety net sees immediate danger, or the NLU thought it
    fairly possible, and the bot did not answer with the emergency text first (or could not
    answer), it goes first anyway."""
    if messages and messages[0].response == "utter_emergency":
        return messages
    phrase_hit = signals_danger(text, lang)
    confidence = _danger_confidence(ctx, conversation_id, deadline) if asked_rasa else None
    if confidence is None:
        danger = phrase_hit  # the NLU did not read it (or cannot tell): the phrases decide
    else:
        danger = (confidence >= EMERGENCY_MIN_CONFIDENCE
                  or (phrase_hit and (confidence >= NET_MIN_NLU_CONFIDENCE
                                      or is_short_message(text))))
    if not danger:
        return messages
    emergency = fixed_messages(ctx.catalog, [("utter_emergency", lang)], channel)
    return emergency + [m for m in messages if m.response != "utter_emergency"]


def outage_language(ctx: TurnContext, text: str | None, requested: str | None) -> str:
    """The language to say 112 in when the database is down (the conversation's own language
    cannot be read): the one asked for (a language code, or an Accept-Language header), else
    the text's, else the default. Only languages the catalog has (it is in memory)."""
    for part in (requested or "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code and ctx.catalog.has_language(code) and ctx.supports(code):
            return code
    if text:
        try:
            decision = resolve_language(explicit=None, sticky=None, text=text,
                                        supported=ctx.supports, default=ctx.default_language,
                                        detect=ctx.detect)
            if ctx.catalog.has_language(decision.language):
                return decision.language
        except Exception:  # noqa: BLE001 - the default language is always right enough
            log.warning("could not tell the language of a message during an outage")
    return ctx.default_language


def _danger_confidence(ctx: TurnContext, conversation_id: str,
                       deadline: float | None) -> float | None:
    """The NLU's emergency_danger confidence for the latest message; None if not known in time."""
    if deadline is None:
        return ctx.rasa.intent_confidence(conversation_id, "emergency_danger")
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    future = ctx.rasa_calls.submit(ctx.rasa.intent_confidence, conversation_id, "emergency_danger")
    try:
        return future.result(timeout=remaining)
    except FutureTimeout:
        return None


def text_for_nlu(ctx: TurnContext, text: str, lang: str) -> str:
    """The NLU is trained on the core languages; anything else goes to it in English."""
    if ctx.is_machine_translated(lang):
        return ctx.translator.translate(text, lang, "en")
    return text


def erase_conversation(ctx: TurnContext, conversation_id: str) -> None:
    """Erase a conversation here and in Rasa's tracker store (which also holds its text)."""
    with ctx.db.session() as s:
        service.delete_conversation(s, conversation_id)
    ctx.rasa.erase(conversation_id)
