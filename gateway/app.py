"""The FastAPI application factory (uvicorn gateway.app:create_app --factory)."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from gateway.bot.client import RasaClient
from gateway.config import Settings, get_settings
from gateway.conversations.turn import TurnContext
from gateway.db import Database
from gateway.health.router import router as health_router
from gateway.log_config import configure_logging
from gateway.nlg.router import router as nlg_router
from gateway.webchat.router import router as webchat_router
from translations.catalog import Catalog

STATIC_DIR = Path(__file__).resolve().parent / "static"
log = logging.getLogger(__name__)

# No third-party anything, nothing cached, no referrer leaving the page.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'none'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
}


def reviewed_languages(catalog: Catalog) -> frozenset[str]:
    return frozenset(code for code, info in catalog.languages.items() if info.status == "reviewed")


def create_app(
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    rasa: RasaClient | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        yield
        app.state.rasa.close()
        app.state.db.dispose()

    app = FastAPI(title="Rightsline gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.catalog = catalog or Catalog.load()
    app.state.rasa = rasa or RasaClient(
        settings.rasa_url, settings.rasa_timeout_seconds, settings.internal_token.get_secret_value()
    )
    app.state.turn_context = TurnContext(
        db=app.state.db,
        rasa=app.state.rasa,
        catalog=app.state.catalog,
        default_language=settings.default_language,
        allowed_languages=reviewed_languages(app.state.catalog)
        if settings.reviewed_languages_only else None,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    app.include_router(health_router)
    app.include_router(nlg_router)
    app.include_router(webchat_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    return app
