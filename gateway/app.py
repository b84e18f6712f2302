"""The FastAPI application factory (uvicorn gateway.app:create_app --factory)."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.abuse.web import AbuseGuard
from gateway.bot.client import RasaClient
from gateway.config import Settings, get_settings
from gateway.console.admin import router as console_admin_router
from gateway.console.auth import ConsoleHousekeeping, SignInPolicy
from gateway.console.blocks import router as console_blocks_router
from gateway.console.outreach import router as console_outreach_router
from gateway.console.router import router as console_router
from gateway.conversations.turn import RasaBreaker, TurnContext, TurnSweeper
from gateway.db import Database
from gateway.erasure import ErasureWorker, make_redactor
from gateway.language.detect import LanguageDetector
from gateway.escalation.notify import PersonNotifier
from gateway.escalation.router import router as escalation_router
from gateway.escalation.service import EscalationPolicy, Escalations
from gateway.health.router import database_unreachable
from gateway.health.router import router as health_router
from gateway.limits import BodyLimitMiddleware
from gateway.log_config import configure_logging
from gateway.nlg.router import router as nlg_router
from gateway.messaging.outbox import OutboxWorker
from gateway.messaging.vault import NumberVault
from gateway.sms.router import router as sms_router
from gateway.messaging.sender import SimulatedSender, SmsSender, TwilioSender
from gateway.sms.service import SmsContext, resume_hooks
from gateway.webchat.page import router as webchat_page_router
from gateway.webchat.router import router as webchat_router
from translations.catalog import Catalog
from translations.mt import ArgosTranslator, NoTranslator, Translator, configure_argos_home

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


def load_translator(argos_home: Path) -> Translator:
    """Argos when a package is installed (its import costs about 2 s), else nothing."""
    configure_argos_home(argos_home)
    packages = Path(os.environ["ARGOS_PACKAGES_DIR"])
    if packages.is_dir() and any(packages.iterdir()):
        return ArgosTranslator()
    return NoTranslator()


def make_sms_sender(settings: Settings) -> SmsSender:
    if settings.is_sms_simulated:
        return SimulatedSender()
    return TwilioSender(
        account_sid=settings.twilio_account_sid or "",
        auth_token=settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else "",
        api_base_url=settings.twilio_api_base_url,
        messaging_service_sid=settings.twilio_messaging_service_sid,
        from_number=settings.twilio_from_number,
    )


def reviewed_languages(catalog: Catalog) -> frozenset[str]:
    return frozenset(code for code, info in catalog.languages.items() if info.status == "reviewed")


def create_app(
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    rasa: RasaClient | None = None,
    translator: Translator | None = None,
    sms_sender: SmsSender | None = None,
    start_outbox_worker: bool = True,
) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        if start_outbox_worker:
            app.state.outbox_worker.start(settings.outbox_poll_seconds)
            app.state.erasure_worker.start(settings.outbox_poll_seconds)
            app.state.escalations.start(settings.escalation_poll_seconds)
            app.state.console_housekeeping.start(settings.console_purge_seconds)
            app.state.turn_sweeper.start(settings.turn_sweep_seconds)
        yield
        app.state.turn_sweeper.stop()
        app.state.console_housekeeping.stop()
        app.state.escalations.stop()
        app.state.outbox_worker.stop()
        app.state.erasure_worker.stop()
        app.state.sms.executor.shutdown(wait=False, cancel_futures=False)
        app.state.rasa.close()
        app.state.db.dispose()

    app = FastAPI(title="Rightsline gateway", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.db = Database(settings.database_url)
    app.state.catalog = catalog or Catalog.load()
    app.state.rasa = rasa or RasaClient(
        settings.rasa_url, settings.rasa_timeout_seconds, settings.internal_token.get_secret_value()
    )
    translator = translator or load_translator(settings.argos_home)
    app.state.turn_context = TurnContext(
        translator=translator,
        db=app.state.db,
        rasa=app.state.rasa,
        catalog=app.state.catalog,
        default_language=settings.default_language,
        detect=LanguageDetector(
            {*app.state.catalog.languages, *translator.languages(), *settings.detect_extra_languages}
        ) if settings.detect_language else None,
        allowed_languages=reviewed_languages(app.state.catalog)
        if settings.reviewed_languages_only else None,
        rasa_budget_seconds=settings.rasa_timeout_seconds,
        breaker=RasaBreaker(settings.rasa_down_seconds),
        # a live turn never holds its message longer than this (Rasa's budget is shared by
        # the answer and the danger check)
        lease=timedelta(seconds=2 * settings.rasa_timeout_seconds + 15),
    )

    vault = NumberVault(settings.sender_hash_key.get_secret_value(),
                        settings.encryption_key.get_secret_value())
    app.state.escalations = Escalations(
        db=app.state.db, vault=vault,
        policy=EscalationPolicy(
            ack_timeout=timedelta(minutes=settings.escalation_ack_timeout_minutes),
            danger_ack_timeout=timedelta(
                minutes=settings.escalation_danger_ack_timeout_minutes),
            fallback_pager=settings.escalation_fallback_pager,
            pages_per_hour=settings.escalation_pages_per_hour,
            fallback_pages_per_hour=settings.escalation_fallback_pages_per_hour),
        notify_person=PersonNotifier(app.state.catalog, settings.default_language),
    )
    app.state.abuse = AbuseGuard.from_settings(settings)
    # Expired console sessions and old failed sign-ins are deleted on a schedule.
    app.state.console_housekeeping = ConsoleHousekeeping(
        app.state.db, SignInPolicy.from_settings(settings), clock=app.state.escalations.clock)
    app.state.sms = SmsContext(turn=app.state.turn_context, settings=settings, vault=vault,
                               escalations=app.state.escalations)
    app.state.turn_sweeper = TurnSweeper(app.state.turn_context,
                                         {"sms": resume_hooks(app.state.sms)})
    app.state.outbox_worker = OutboxWorker(
        db=app.state.db, sender=sms_sender or make_sms_sender(settings), vault=vault,
        status_callback_url=None if settings.is_sms_simulated
        else settings.public_base_url.rstrip("/") + "/sms/twilio/status",
        max_attempts=settings.outbox_max_attempts,
        body_retention=timedelta(minutes=settings.outbox_body_retention_minutes),
    )
    # Rasa's tracker and Twilio's copies of erased conversations, retried until done.
    app.state.erasure_worker = ErasureWorker(db=app.state.db, rasa=app.state.rasa,
                                             redactor=make_redactor(settings), vault=vault)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Say what is wrong and where, never echo the input back (it may be a person's words,
        # or 50 MB of it).
        detail = [{"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
                  for err in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    app.add_exception_handler(OperationalError, database_unreachable)
    app.add_exception_handler(InterfaceError, database_unreachable)
    app.add_exception_handler(PoolTimeout, database_unreachable)

    app.add_middleware(BodyLimitMiddleware)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # noqa: ANN001, ANN202
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    app.include_router(health_router)
    app.include_router(nlg_router)
    app.include_router(webchat_router)
    app.include_router(webchat_page_router)
    app.include_router(sms_router)
    app.include_router(escalation_router)
    app.include_router(console_router)
    app.include_router(console_admin_router)
    app.include_router(console_blocks_router)
    app.include_router(console_outreach_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
