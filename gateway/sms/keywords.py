"""SMS-only keywords (the whole message): STOP, START and HELP in English and every core
language. DELETE and LANGUAGE are shared with the web chat (gateway.conversations.keywords)."""

from __future__ import annotations

from typing import Literal

from gateway.conversations.keywords import normalise

SmsKeyword = Literal["stop", "start", "help"]

_WORDS: dict[SmsKeyword, list[str]] = {
    "stop": ["stop", "stopp", "unsubscribe", "стоп", "parar", "arret", "arrêt", "หยุด", "停止",
             "توقف", "stopp", "leiratkozas"],
    "start": ["start", "unstop", "старт", "empezar", "reprendre", "เริ่ม", "开始", "ابدأ", "ابدا"],
    "help": ["help", "hjalp", "hjälp", "ajutor", "помощ", "segitseg", "segítség", "pomoc",
             "помощь", "допомога", "ayuda", "aide", "ช่วยเหลือ", "帮助", "مساعدة", "info"],
}
_TABLE = {normalise(word): kind for kind, words in _WORDS.items() for word in words}


def match_sms_keyword(text: str) -> SmsKeyword | None:
    if len(text) > 20:
        return None
    return _TABLE.get(normalise(text))
