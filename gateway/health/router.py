from __future__ import annotations

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from gateway.deps import DatabaseDep, RasaDep, SettingsDep

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
def healthz(db: DatabaseDep, rasa: RasaDep, settings: SettingsDep) -> JSONResponse:
    parts = {
        "database": "ok" if _database_ok(db) else "down",
        "rasa": "ok" if rasa.is_up() else "down",
        "actions": "ok" if _actions_ok(settings.actions_url) else "down",
    }
    is_ok = all(state == "ok" for state in parts.values())
    return JSONResponse(
        {"status": "ok" if is_ok else "degraded", **parts}, status_code=200 if is_ok else 503
    )
