"""SMS-only keywords (the whole message): STOP, START, HELP and MORE in English and every core
language. DELETE and LANGUAGE are shared with the web chat (gateway.conversations.keywords).

MORE: an SMS form that had to leave facts out to stay within three segments ends with
"reply MORE"; MORE then sends the full answer (the web form) of the last answer in the
person's language, split into SMS messages. No answer in an SMS form may leave out a fact
without naming MORE (tests/unit/test_content_facts.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.conversations.keywords import normalise
from gateway.models import Message
from gateway.messaging.segments import split_message
from translations.catalog import Catalog, UnknownResponse

SmsKeyword = Literal["stop", "start", "help", "more"]

_WORDS: dict[SmsKeyword, list[str]] = {
    "stop": ["stop", "stopp", "unsubscribe", "стоп", "parar", "arret", "arrêt", "หยุด", "停止",
             "توقف", "stopp", "leiratkozas"],
    "start": ["start", "unstop", "старт", "empezar", "reprendre", "เริ่ม", "开始", "ابدأ", "ابدا"],
    "help": ["help", "hjalp", "hjälp", "ajutor", "помощ", "segitseg", "segítség", "pomoc",
             "помощь", "допомога", "ayuda", "aide", "ช่วยเหลือ", "帮助", "مساعدة", "info"],
    # MORE works in every language; each language's texts name MORE and their own word.
    "more": ["more", "mer", "mera", "mai mult", "mai", "още", "tovabb", "több", "tobb",
             "wiecej", "więcej", "dalej", "еще", "ещё", "дальше", "ще", "більше", "далі",
             "mas", "más", "plus", "suite", "เพิ่ม", "ต่อ", "更多", "المزيد", "مزيد"],
}
_TABLE = {normalise(word): kind for kind, words in _WORDS.items() for word in words}

# Replies that are not answers to a question: MORE continues the last real answer.
_NOT_AN_ANSWER = frozenset({
    "utter_sms_stopped", "utter_sms_started", "utter_sms_help", "utter_sms_text_only",
    "utter_rate_limited", "utter_conversation_deleted", "utter_unavailable",
})


def match_sms_keyword(text: str) -> SmsKeyword | None:
    if len(text) > 20:
        return None
    return _TABLE.get(normalise(text))


def last_answer(s: Session, conversation_id: str) -> str | None:
    """The response name of the last answer sent in this conversation, if any."""
    names = s.scalars(
        select(Message.response_name)
        .where(Message.conversation_id == conversation_id, Message.direction == "outbound",
               Message.response_name.is_not(None))
        .order_by(Message.id.desc())
        .limit(20)
    )
    return next((name for name in names if name not in _NOT_AN_ANSWER), None)


def more_reply(
    catalog: Catalog, response: str | None, lang: str,
    values: Mapping[str, object] | None = None, max_segments: int = 3,
) -> list[str]:
    """The SMS messages that answer MORE: the full (web) form of the last answer, split so
    that no message is longer than max_segments. Without a last answer: the HELP text."""
    text = None
    if response:
        try:
            text = catalog.render(response, lang, "web", values)
        except UnknownResponse:
            text = None
    if text is None:
        text = catalog.render("utter_sms_help", lang, "sms", values)
    return split_message(text, max_segments)
