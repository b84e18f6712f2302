"""The web chat's gate: blocks and rate limits, checked before a turn is taken (JSON API and
the page without JavaScript alike). Danger and the keywords always pass the limits; erasure
(DELETE, or the delete keyword) always passes; a refusal is never silent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request
from fastapi.responses import JSONResponse

from gateway.abuse import blocks
from gateway.abuse.clients import Network, client_address, current_client, keyed_hash, parse_networks
from gateway.abuse.limits import WebchatLimits, record_webchat_arrival
from gateway.config import Settings
from gateway.conversations.danger import signals_danger
from gateway.conversations.keywords import match_keyword
from gateway.conversations.turn import TurnContext, fixed_messages
from gateway.models import Conversation, utcnow
from gateway.webchat.schemas import BotMessageOut

Clock = Callable[[], datetime]
LIMITED_DETAIL = ("too many messages in a short time: this message was not sent; wait a few "
                  "minutes and send it again. In danger call 112.")
BLOCKED_DETAIL = ("this conversation cannot send messages for a while. In danger call 112. "
                  "You can still delete the conversation.")


@dataclass(frozen=True)
class Refusal:
    status_code: int  # 429 (over a limit) or 403 (blocked)
    response: str  # the catalog entry to answer with
    language: str
    detail: str
    retry_after: int | None = None

    def messages(self, ctx: TurnContext):  # noqa: ANN201 - list[BotMessage]
        return fixed_messages(ctx.catalog, [(self.response, self.language)], "webchat")

    def json(self, ctx: TurnContext, conversation_id: str | None) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        return JSONResponse(
            status_code=self.status_code, headers=headers,
            content={"conversation_id": conversation_id, "language": self.language,
                     "messages": [BotMessageOut(text=m.text, response=m.response,
                                                machine_translated=False).model_dump()
                                  for m in self.messages(ctx)],
                     "detail": self.detail})


@dataclass
class AbuseGuard:
    hash_key: str
    limits: WebchatLimits
    proxies: tuple[Network, ...] = ()
    block_max_days: int = 92
    outreach_per_client_per_day: int = 3
    clock: Clock = utcnow

    @classmethod
    def from_settings(cls, settings: Settings) -> AbuseGuard:
        return cls(hash_key=settings.sender_hash_key.get_secret_value(),
                   limits=WebchatLimits.from_settings(settings),
                   proxies=parse_networks(settings.trusted_proxies),
                   block_max_days=settings.block_max_days,
                   outreach_per_client_per_day=settings.outreach_counts_per_client_per_day)

    def client_hash(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.get("x-forwarded-for"), self.proxies)
        return keyed_hash(self.hash_key, "webchat-client", address)

    def conversation_hash(self, conversation_id: str) -> str:
        return keyed_hash(self.hash_key, "webchat-conversation", conversation_id)

    def webchat_gate(self, ctx: TurnContext, request: Request, *, conversation_id: str | None,
                     text: str, language: str | None) -> Refusal | None:
        """None: take the turn. Else why not, in the person's language (English when the
        catalog does not have it: the text still carries 112)."""
        now = self.clock()
        client = self.client_hash(request)
        keyword = match_keyword(text)
        with ctx.db.session() as s:
            conversation_hash = opened_at = None
            if conversation_id:
                conversation = s.get(Conversation, conversation_id)
                if conversation is None:
                    return None  # the turn answers 404
                language = language or conversation.language
                opened_at = conversation.created_at
                conversation_hash = self.conversation_hash(conversation_id)
                if (blocks.active_block(s, "webchat", conversation_hash, now) is not None
                        and not (keyword and keyword.kind == "delete")):
                    return Refusal(403, "utter_blocked", _known(ctx, language), BLOCKED_DETAIL)
            else:
                # for the outreach count of the new conversation (gateway.outreach.service)
                current_client.set((client, self.outreach_per_client_per_day))
            is_exempt = keyword is not None or signals_danger(text, language)
            if record_webchat_arrival(s, client_hash=client, conversation_hash=conversation_hash,
                                      now=now, limits=self.limits, is_exempt=is_exempt,
                                      opened_at=opened_at):
                return Refusal(429, "utter_rate_limited", _known(ctx, language), LIMITED_DETAIL,
                               retry_after=int(self.limits.window.total_seconds()))
        return None


def _known(ctx: TurnContext, language: str | None) -> str:
    return language if language and ctx.catalog.has_language(language) else "en"


def guard_of(request: Request) -> AbuseGuard:
    return request.app.state.abuse


