"""Rasa's NLG endpoint: Rasa names the response, the gateway renders its words.

The rendered message goes back as a `custom` payload so that the channel edge learns the
response name and the machine-translation label, not just the text.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gateway.deps import CatalogDep, InternalAuth, SettingsDep
from translations.catalog import UnknownResponse

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[InternalAuth])


class NlgRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    response: str
    arguments: dict[str, Any] = {}
    tracker: dict[str, Any] = {}
    channel: dict[str, Any] = {}


def _context(tracker: dict[str, Any], default_language: str) -> tuple[str, str]:
    slots = tracker.get("slots") or {}
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    # The slot (set by the action server from the metadata) is the conversation's truth.
    language = slots.get("language") or default_language
    form = "sms" if metadata.get("channel") == "sms" else "web"
    return language, form


@router.post("/nlg")
async def render_response(body: NlgRequest, catalog: CatalogDep, settings: SettingsDep) -> dict:
    language, form = _context(body.tracker, settings.default_language)
    name = body.response
    try:
        text = catalog.render(name, language, form)
    except UnknownResponse:
        log.error("no catalog text for response %s in %s", name, language)
        name = "utter_default"
        text = catalog.render(name, language if catalog.has_language(language) else "en", form)
    return {"custom": {"text": text, "response": name, "machine_translated": False,
                       "language": language}}
