"""Rasa's NLG endpoint: Rasa names the response, the gateway renders its words.

The rendered message goes back as a `custom` payload so that the channel edge learns the
response name and the machine-translation label, not just the text.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from gateway.config import Settings
from gateway.deps import CatalogDep, InternalAuth, SettingsDep, TranslatorDep
from translations.catalog import Catalog
from translations.mt import TranslationUnavailable, Translator

log = logging.getLogger(__name__)
router = APIRouter(dependencies=[InternalAuth], include_in_schema=False)
# Machine translation runs in worker threads of its own: the web chat's sync endpoints hold
# the default thread pool while they wait for Rasa, and Rasa is waiting for this endpoint.
MT_LIMITER = anyio.CapacityLimiter(4)


class NlgRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    response: str
    arguments: dict[str, Any] = {}
    tracker: dict[str, Any] = {}
    channel: dict[str, Any] = {}


# On a discreet SMS number the greeting must not name trafficking or prostitution.
DISCREET_VARIANTS = {"utter_greet": "utter_greet_discreet"}


def _context(tracker: dict[str, Any], default_language: str) -> tuple[str, str]:
    slots = tracker.get("slots") or {}
    metadata = (tracker.get("latest_message") or {}).get("metadata") or {}
    # The slot (set by the action server from the metadata) is the conversation's truth.
    language = slots.get("language") or default_language
    form = "sms" if metadata.get("channel") == "sms" else "web"
    return language, form


def runtime_values(settings: Settings) -> dict[str, object]:
    """The catalog's runtime placeholders, from this deployment's settings: what the texts
    say must be what the gateway does (utter_privacy states the retention period)."""
    return {"retention_days": settings.retention_days}


def machine_translate(catalog: Catalog, translator: Translator, english: str, target: str) -> str:
    """English content in the target language; refuses a translation that lost a number."""
    translated = translator.translate(english, "en", target)
    for number in catalog.contacts.numbers.values():
        if number in english and number not in translated:
            raise TranslationUnavailable(f"the translation to {target} lost a contact number")
    return translated


@router.post("/nlg")
async def render_response(
    body: NlgRequest, catalog: CatalogDep, settings: SettingsDep, translator: TranslatorDep
) -> dict:
    language, form = _context(body.tracker, settings.default_language)
    name = body.response
    metadata = (body.tracker.get("latest_message") or {}).get("metadata") or {}
    if metadata.get("discreet"):
        name = DISCREET_VARIANTS.get(name, name)
    if not catalog.has_response(name):
        log.error("no catalog text for response %s", name)
        name = "utter_default"
    is_machine_translated = False
    values = runtime_values(settings)
    if catalog.has_language(language):
        text = catalog.render(name, language, form, values)
    else:
        text = catalog.render(name, "en", form, values)
        try:
            text = await anyio.to_thread.run_sync(
                machine_translate, catalog, translator, text, language, limiter=MT_LIMITER
            )
            is_machine_translated = True
        except TranslationUnavailable as exc:
            log.warning("sending English instead: %s", exc)
            language = "en"
    return {"custom": {"text": text, "response": name,
                       "machine_translated": is_machine_translated, "language": language}}
