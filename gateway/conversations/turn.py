"""One user turn, the same for every channel: record, decide the language, ask Rasa, record.

The inbound message is committed before Rasa is called, so a Rasa outage or a crash loses
nothing; when Rasa does not answer the user still gets the fixed answer with 112.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from gateway.bot.client import BotMessage, RasaClient, RasaUnavailable
from gateway.conversations import service
from gateway.conversations.danger import EMERGENCY_MIN_CONFIDENCE, signals_danger
from gateway.conversations.keywords import match_keyword
from gateway.db import Database
from gateway.language.service import Detector, resolve_language
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


@dataclass(frozen=True)
class TurnResult:
    conversation_id: str | None  # None once the person erased the conversation
    language: str
    messages: list[BotMessage]
    is_degraded: bool = False


@dataclass
class TurnContext:
    db: Database
    rasa: RasaClient
    catalog: Catalog
    default_language: str
    detect: Detector | None = None
    allowed_languages: frozenset[str] | None = None
    translator: Translator = NoTranslator()

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
) -> TurnResult:
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
        service.record_message(
            s,
            conversation,
            direction="inbound",
            text=text,
            language=decision.language,
            channel_message_id=channel_message_id,
        )
        conversation_id = conversation.id
        region_hint = conversation.region_hint
        with_coordinator = service.is_with_coordinator(s, conversation_id)
    lang = decision.language

    is_degraded = False
    if keyword and keyword.kind == "delete":
        erase_conversation(ctx, conversation_id)
        messages = fixed_messages(ctx.catalog, [("utter_conversation_deleted", lang)], channel)
        return TurnResult(None, lang, messages)
    if with_coordinator and not keyword:
        # A coordinator has the conversation: the message is theirs to answer, not the bot's,
        # except that danger still gets the 112 answer at once.
        messages = danger_first(ctx, conversation_id, text, lang, channel, [], asked_rasa=False)
    elif keyword and keyword.kind == "menu":
        messages = fixed_messages(ctx.catalog, [("utter_language_menu", lang)], channel)
    elif keyword and keyword.kind == "choose_language" and not decision.unsupported_choice:
        messages = fixed_messages(ctx.catalog, [("utter_greet", lang)], channel)
    elif decision.unsupported_choice:
        messages = fixed_messages(
            ctx.catalog,
            [("utter_language_unsupported", "en"), ("utter_language_unsupported", "sv"),
             ("utter_language_menu", lang)],
            channel,
        )
    else:
        metadata = {"language": lang, "channel": channel, "region": region_hint}
        if discreet:
            metadata["discreet"] = True
        try:
            messages = ctx.rasa.send(conversation_id, text_for_nlu(ctx, text, lang), metadata)
            if not messages:
                # Rasa answered with nothing (e.g. its NLG call failed): never leave a person
                # without an answer.
                raise RasaUnavailable("empty reply")
        except (RasaUnavailable, TranslationUnavailable):
            messages = fixed_messages(ctx.catalog, [("utter_unavailable", lang)], channel)
            is_degraded = True
        messages = danger_first(ctx, conversation_id, text, lang, channel, messages,
                                asked_rasa=not is_degraded)
        if decision.needs_language_hint:
            # Not sure which language this is: say how to choose, in a line any reader can use.
            messages += fixed_messages(ctx.catalog, [("utter_language_hint", lang)], channel)

    try:
        _record_replies(ctx, conversation_id, lang, messages)
    except SQLAlchemyError as exc:
        # The person still gets the answer; only our copy of it is missing.
        log.error("could not record replies: %s", type(exc).__name__)
    return TurnResult(conversation_id, lang, messages, is_degraded)


def danger_first(ctx: TurnContext, conversation_id: str, text: str, lang: str,
                 channel: Channel, messages: list[BotMessage], *, asked_rasa: bool) -> list[BotMessage]:
    """Danger wins: when the phrase safety net sees immediate danger, or the NLU thought it
    fairly possible, and the bot did not answer with the emergency text first (or could not
    answer), it goes first anyway."""
    if messages and messages[0].response == "utter_emergency":
        return messages
    if not (
        signals_danger(text, lang)
        or (asked_rasa and ctx.rasa.intent_confidence(conversation_id, "emergency_danger")
            >= EMERGENCY_MIN_CONFIDENCE)
    ):
        return messages
    emergency = fixed_messages(ctx.catalog, [("utter_emergency", lang)], channel)
    return emergency + [m for m in messages if m.response != "utter_emergency"]


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


def _record_replies(ctx: TurnContext, conversation_id: str, lang: str,
                    messages: list[BotMessage]) -> None:
    with ctx.db.session() as s:
        conversation = service.get_conversation(s, conversation_id)
        for message in messages:
            service.record_message(
                s,
                conversation,
                direction="outbound",
                text=message.text,
                language=lang,
                response_name=message.response,
                is_machine_translated=message.machine_translated,
            )
