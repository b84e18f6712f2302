"""Delete conversations idle longer than the retention period, here and in Rasa's tracker store.

    .venv/bin/python -m gateway.retention        (run it from cron / a systemd timer, e.g. hourly)

Deleting a conversation deletes its messages, its outbox rows and its encrypted number
(foreign keys cascade), closes its open requests for a coordinator, and queues the erasure of
its Rasa tracker and of its message bodies at Twilio (gateway.erasure). Safe to run on several
machines at once: a conversation already deleted by another run, or active again, is skipped.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timedelta

from sqlalchemy import select

from gateway.bot.client import RasaClient
from gateway.conversations import service
from gateway.db import Database
from gateway.models import Conversation, utcnow

log = logging.getLogger(__name__)


def idle_conversation_ids(db: Database, cutoff: datetime) -> list[str]:
    with db.session() as s:
        return list(s.scalars(
            select(Conversation.id).where(Conversation.last_activity_at < cutoff)).all())


def purge_idle_conversations(
    db: Database, rasa: RasaClient | None, *, older_than: timedelta, now: datetime | None = None
) -> int:
    """Delete what was idle at `now - older_than`. Each conversation is re-checked, locked, at
    delete time: one that got a message after the list was read stays. Its copies in Rasa and
    at Twilio are queued for erasure in the same transaction (gateway.erasure; the gateway's
    worker retries until done); Rasa's is also tried at once."""
    cutoff = (now or utcnow()) - older_than
    deleted = 0
    for conversation_id in idle_conversation_ids(db, cutoff):
        with db.session() as s:
            if not service.delete_conversation(s, conversation_id, idle_before=cutoff):
                continue
        deleted += 1
        if rasa is not None:
            rasa.erase(conversation_id)
    return deleted


def main() -> int:
    from gateway.config import get_settings
    from gateway.log_config import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    db = Database(settings.database_url)
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_seconds,
                      settings.internal_token.get_secret_value())
    count = purge_idle_conversations(db, rasa, older_than=timedelta(days=settings.retention_days))
    log.info("retention: deleted %d conversations idle for more than %d days", count,
             settings.retention_days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
