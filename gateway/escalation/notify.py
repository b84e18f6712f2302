"""Telling the person, in their language and on their channel, what happens to their request."""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.conversations.service import record_message
from gateway.escalation.models import Escalation
from gateway.models import Conversation
from gateway.messaging import outbox
from gateway.messaging.segments import split_message
from translations.catalog import Catalog

EVENT_RESPONSES = {
    "paged_primary": "utter_handoff_paged",
    "paged_backup": "utter_handoff_backup",
    "fallback": "utter_handoff_fallback",
    "acknowledged": "utter_handoff_acknowledged",
    "closed": "utter_handoff_closed",
}


class PersonNotifier:
    def __init__(self, catalog: Catalog, default_language: str) -> None:
        self.catalog = catalog
        self.default_language = default_language

    def __call__(self, s: Session, escalation: Escalation, event: str) -> None:
        conversation = s.get(Conversation, escalation.conversation_id) if escalation.conversation_id else None
        if conversation is None:
            return  # the person erased the conversation
        name = EVENT_RESPONSES[event]
        lang = conversation.language or self.default_language
        form = "sms" if conversation.channel == "sms" else "web"
        text = self.catalog.render(name, lang, form)
        # Kept with the conversation: the web chat shows it when it next asks for news.
        record_message(s, conversation, direction="outbound", text=text, language=lang,
                       response_name=name)
        # A message arriving later can endanger someone whose phone is watched: SMS only with
        # the person's yes, and never after STOP.
        if (conversation.channel == "sms" and escalation.may_contact
                and conversation.sender_encrypted and not conversation.is_opted_out):
            for part in split_message(text):
                outbox.enqueue(s, conversation_id=conversation.id,
                               to_encrypted=conversation.sender_encrypted, body=part)
