"""Everything external reaches routes through these Annotated dependencies (overridable in tests)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from gateway.bot.client import RasaClient
from gateway.config import Settings
from gateway.conversations.turn import TurnContext
from gateway.db import Database
from translations.catalog import Catalog
from translations.mt import Translator


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_database(request: Request) -> Database:
    return request.app.state.db


def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def get_rasa(request: Request) -> RasaClient:
    return request.app.state.rasa


def get_translator(request: Request) -> Translator:
    return request.app.state.turn_context.translator


def get_turn_context(request: Request) -> TurnContext:
    return request.app.state.turn_context


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
RasaDep = Annotated[RasaClient, Depends(get_rasa)]
TranslatorDep = Annotated[Translator, Depends(get_translator)]
TurnContextDep = Annotated[TurnContext, Depends(get_turn_context)]


def require_internal_token(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    expected = f"Bearer {settings.internal_token.get_secret_value()}"
    # bytes: compare_digest refuses non-ASCII str, and a header is any latin-1 text
    if authorization is None or not hmac.compare_digest(
            authorization.encode("utf-8", "replace"), expected.encode("utf-8")):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "internal endpoint: bad or missing token")


InternalAuth = Depends(require_internal_token)
