"""Health. The public /healthz answers from this process's own state only (it makes no call
to the database or Rasa, so nobody on the internet can make the gateway call out, and a load
balancer keeps a gateway that can still answer 112 in service); the parts are checked behind
the internal token at /internal/health. Also the answer every route gives while the database
cannot be reached."""

from __future__ import annotations

import logging

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from gateway.console.html import message_page
from gateway.conversations.turn import fixed_messages, outage_language
from gateway.deps import DatabaseDep, InternalAuth, RasaDep, SettingsDep

log = logging.getLogger(__name__)
router = APIRouter()


def _database_ok(db) -> bool:  # noqa: ANN001
    try:
        db.ping()
        return True
    except SQLAlchemyError:
        return False


def _actions_ok(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


@router.get("/healthz")
def healthz() -> JSONResponse:
    """The process is up and answering (when parts are down, it answers with the fixed texts)."""
    return JSONResponse({"status": "ok"})


@router.get("/internal/health", dependencies=[InternalAuth], include_in_schema=False)
def internal_health(db: DatabaseDep, rasa: RasaDep, settings: SettingsDep) -> JSONResponse:
    parts = {
        "database": "ok" if _database_ok(db) else "down",
        "rasa": "ok" if rasa.is_up() else "down",
        "actions": "ok" if _actions_ok(settings.actions_url) else "down",
    }
    is_ok = all(state == "ok" for state in parts.values())
    return JSONResponse(
        {"status": "ok" if is_ok else "degraded", **parts}, status_code=200 if is_ok else 503
    )


DATABASE_DOWN_TITLE = "Database unreachable / Databasen kan inte nås"
DATABASE_DOWN_TEXT = (
    "The line's database cannot be reached right now: signing in, the queue and replies do not "
    "work, and nothing was saved. People who write in still get the emergency number 112. Try "
    "again in a few minutes, and tell the administrator if it lasts. / Linjens databas kan inte "
    "nås just nu: inloggning, kön och svar fungerar inte, och inget sparades. Den som skriver "
    "får ändå nödnumret 112. Försök igen om några minuter och säg till administratören om det "
    "fortsätter.")
WEBCHAT_DOWN_DETAIL = (
    "the database cannot be reached: nothing was read, saved or erased; try again later")


def database_unreachable(request: Request, exc: Exception) -> Response:
    """Any route whose database call failed because the database is unreachable: staff get a
    console page saying so, the web chat the emergency text in the person's language (the
    catalog is in memory), everything else a 503 that says what happened."""
    log.error("database unreachable: %s", type(exc).__name__)
    path = request.url.path
    if path.startswith("/console"):
        return message_page(DATABASE_DOWN_TITLE, DATABASE_DOWN_TEXT, status_code=503)
    if path.startswith("/api/webchat"):
        ctx = request.app.state.turn_context
        lang = outage_language(ctx, None, request.headers.get("accept-language"))
        messages = fixed_messages(ctx.catalog, [("utter_emergency", lang)], "webchat")
        return JSONResponse(status_code=503, content={
            "detail": WEBCHAT_DOWN_DETAIL, "language": lang,
            "messages": [{"text": m.text, "response": m.response, "machine_translated": False,
                          "id": None, "kind": "bot"} for m in messages]})
    return JSONResponse(status_code=503, content={"detail": "the database cannot be reached"})
