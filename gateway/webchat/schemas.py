from __future__ import annotations

import re

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from gateway.escalation.notify import EVENT_RESPONSES

# One chat message: long enough for anyone's story in a few turns, short enough that nobody
# can push pages of text through Rasa. Longer texts are refused with 422, never cut.
MAX_MESSAGE_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Drop control characters and surrounding whitespace; refuse empty and over-long text."""
    value = _CONTROL.sub("", value).strip()
    if not value:
        raise ValueError("text must not be empty")
    if len(value) > MAX_MESSAGE_CHARS:
        raise ValueError(f"text is longer than {MAX_MESSAGE_CHARS} characters")
    return value


class WebchatMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: str | None = Field(default=None, min_length=16, max_length=64,
                                        pattern=r"^[A-Za-z0-9_-]+$")
    text: str
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z]{2,4})?$")
    # Outreach source code from the QR card's link (?src=); ignored for an existing conversation.
    source: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
    # The page's own id for this message (at least 128 random bits, made once per message and
    # sent again with every retry of it): a message delivered twice is taken once.
    client_message_id: str | None = Field(default=None, min_length=22, max_length=64,
                                          pattern=r"^[A-Za-z0-9_-]+$")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        return clean_text(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        return value.split("-")[0].lower() if value else None

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        return value.lower() if value else None


# What a message said to the person is, for the page to show it as such: the assistant's
# answer, a coordinator's own words, or news about their request for a person.
COORDINATOR_REPLY = "coordinator_reply"  # gateway.console stores replies under this name
STATUS_RESPONSES = frozenset(EVENT_RESPONSES.values())
MessageKind = Literal["bot", "coordinator", "status"]


def message_kind(response: str | None) -> MessageKind:
    if response == COORDINATOR_REPLY:
        return "coordinator"
    if response in STATUS_RESPONSES:
        return "status"
    return "bot"


class BotMessageOut(BaseModel):
    text: str
    response: str | None
    machine_translated: bool
    # The stored message's id (the page dedupes by it against what it polls later); null when
    # the message could not be stored (database trouble).
    id: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind(self) -> MessageKind:
        return message_kind(self.response)


class WebchatReply(BaseModel):
    conversation_id: str | None  # null after the person erased the conversation
    language: str
    messages: list[BotMessageOut]
    # True when this answers a message that had already arrived (the same client_message_id):
    # no new turn was taken; `messages` is what was said to the person after it so far.
    duplicate: bool = False


class LaterMessageOut(BotMessageOut):
    id: int


class LaterMessages(BaseModel):
    """Messages that arrived after `after` (a coordinator's reply, an escalation status)."""

    messages: list[LaterMessageOut]
