"""Erasure beyond the gateway's database: Rasa's tracker and the message bodies at Twilio.

Deleting a conversation (DELETE, or retention) writes one `pending_erasure` row per copy
outside this database, in the same transaction as the deletion: Rasa's tracker (target: the
conversation's random id), every message of the conversation whose Twilio SID is known
(the inbound MessageSids, the replies sent through the REST API), and, for an SMS
conversation, one row that has Twilio list the messages to and from the person's number
since the conversation began and redacts each (that reaches the replies given in the webhook's
TwiML answer, whose SIDs the gateway never sees; the number stays Fernet-encrypted in the row
and goes with it). So nothing is orphaned: either the conversation is still here, or its
erasures are queued.

A worker in each gateway claims due rows with a lease (a conditional UPDATE, as the outbox
does: several replicas never work on the same row), erases, deletes the row on success, and
on failure retries with exponential backoff (capped at an hour) until it succeeds. Twilio's
404 (no such message) counts as erased. Logs say what kind failed and why, never a target.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from gateway.background import PeriodicWorker
from gateway.db import Database
from gateway.models import PendingErasure, utcnow
from gateway.messaging.vault import NumberVault

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
MAX_BACKOFF = timedelta(hours=1)
RASA_TRACKER = "rasa_tracker"
TWILIO_MESSAGE = "twilio_message"
TWILIO_NUMBER = "twilio_number"
Clock = Callable[[], datetime]


class ErasureFailed(Exception):
    """Not erased this time; retried later. The message is a short code, never a target."""


class TrackerEraser(Protocol):
    def erase(self, sender_id: str) -> bool: ...


class MessageRedactor(Protocol):
    def redact(self, sid: str) -> None:
        """Empty the body of one message at the SMS provider, or raise ErasureFailed."""

    def redact_all_with(self, number: str, our_number: str | None, since: datetime) -> int:
        """Empty every body to or from `number` since `since`, or raise ErasureFailed."""


def enqueue(session: Session, kind: str, targets: Iterable[str], now: datetime | None = None) -> int:
    """Queue erasures in the caller's transaction (the one that deletes the conversation)."""
    now = now or utcnow()
    wanted = sorted({t for t in targets if t})
    if not wanted:
        return 0
    queued = set(session.scalars(select(PendingErasure.target).where(
        PendingErasure.kind == kind, PendingErasure.target.in_(wanted))).all())
    for target in wanted:
        if target not in queued:
            session.add(PendingErasure(kind=kind, target=target, next_attempt_at=now))
    session.flush()
    return len(wanted) - len(queued)


def enqueue_number(session: Session, *, conversation_id: str, number_encrypted: str,
                   our_number: str | None, since: datetime) -> None:
    """Queue the redaction of every message to and from the conversation's (encrypted) number."""
    secret = json.dumps({"number": number_encrypted, "ours": our_number,
                         "since": since.isoformat()})
    exists = session.scalar(select(PendingErasure.id).where(
        PendingErasure.kind == TWILIO_NUMBER, PendingErasure.target == conversation_id))
    if exists is None:
        session.add(PendingErasure(kind=TWILIO_NUMBER, target=conversation_id, secret=secret,
                                   next_attempt_at=utcnow()))
        session.flush()


def backoff(attempts: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(attempts, 20)))


class TwilioRedactor:
    """Redacts a message's body at Twilio: POST .../Messages/{Sid}.json with Body="" (the
    twilio library's `messages(sid).update(body="")`)."""

    def __init__(self, *, account_sid: str, auth_token: str, api_base_url: str,
                 timeout: float = 10) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        from gateway.messaging.sender import _RebasedHttpClient

        http_client = (
            TwilioHttpClient(timeout=timeout)
            if api_base_url.rstrip("/") == "https://api.twilio.com"
            else _RebasedHttpClient(api_base_url, timeout)
        )
        self._client = Client(account_sid, auth_token, http_client=http_client)

    def redact(self, sid: str) -> None:
        from twilio.base.exceptions import TwilioRestException

        try:
            self._client.messages(sid).update(body="")
        except TwilioRestException as exc:
            if exc.status == 404:
                return  # Twilio holds no such message (any more): nothing to redact
            # 429/5xx, and a message still in flight (Twilio redacts only finished ones)
            raise ErasureFailed(f"twilio {exc.status} {exc.code}") from None
        except Exception as exc:  # network errors from requests
            raise ErasureFailed(f"transport {type(exc).__name__}") from None

    def redact_all_with(self, number: str, our_number: str | None, since: datetime) -> int:
        """Twilio filters by day (GMT): from the day before `since`, both directions. Redacting
        a later conversation's bodies too does no harm (the line never reads them back)."""
        from twilio.base.exceptions import TwilioRestException

        after = datetime.combine((since - timedelta(days=1)).date(), datetime.min.time())
        directions = [{"to": number}, {"from_": number}]
        if our_number:
            directions = [{"to": number, "from_": our_number}, {"to": our_number, "from_": number}]
        redacted = 0
        try:
            for direction in directions:
                for message in self._client.messages.stream(date_sent_after=after, **direction):
                    if message.body:
                        self.redact(message.sid)
                        redacted += 1
        except TwilioRestException as exc:
            raise ErasureFailed(f"twilio {exc.status} {exc.code}") from None
        except ErasureFailed:
            raise
        except Exception as exc:  # network errors from requests
            raise ErasureFailed(f"transport {type(exc).__name__}") from None
        return redacted


class NothingToRedact:
    """Local simulator mode: no message ever reached Twilio."""

    def redact(self, sid: str) -> None:
        return None

    def redact_all_with(self, number: str, our_number: str | None, since: datetime) -> int:
        return 0


class ErasureWorker:
    def __init__(self, *, db: Database, rasa: TrackerEraser, redactor: MessageRedactor,
                 vault: NumberVault | None = None, clock: Clock = utcnow,
                 batch_size: int = 20) -> None:
        self.db = db
        self.vault = vault
        self.rasa = rasa
        self.redactor = redactor
        self.clock = clock
        self.batch_size = batch_size
        self._worker = PeriodicWorker("erasure", self.run_once)

    def claim(self) -> list[tuple[int, str, str, str, int, str | None]]:
        now = self.clock()
        token = secrets.token_hex(8)
        claimed = []
        with self.db.session() as s:
            due = s.execute(
                select(PendingErasure.id, PendingErasure.kind, PendingErasure.target,
                       PendingErasure.attempts, PendingErasure.secret)
                .where(PendingErasure.next_attempt_at <= now)
                .where(or_(PendingErasure.claimed_until.is_(None),
                           PendingErasure.claimed_until < now))
                .order_by(PendingErasure.next_attempt_at, PendingErasure.id)
                .limit(self.batch_size)
            ).all()
            for row_id, kind, target, attempts, secret in due:
                took = s.execute(
                    update(PendingErasure)
                    .where(PendingErasure.id == row_id)
                    .where(or_(PendingErasure.claimed_until.is_(None),
                               PendingErasure.claimed_until < now))
                    .values(claim_token=token, claimed_until=now + LEASE)
                ).rowcount == 1
                if took:
                    claimed.append((row_id, token, kind, target, attempts, secret))
        return claimed

    def erase_one(self, kind: str, target: str, secret: str | None = None) -> None:
        if kind == RASA_TRACKER:
            if not self.rasa.erase(target):
                raise ErasureFailed("rasa did not confirm")
        elif kind == TWILIO_MESSAGE:
            self.redactor.redact(target)
        elif kind == TWILIO_NUMBER:
            if self.vault is None:
                raise ErasureFailed("no key to read the number")
            details = json.loads(secret or "{}")
            self.redactor.redact_all_with(self.vault.decrypt(details["number"]), details.get("ours"),
                                          datetime.fromisoformat(details["since"]))
        else:
            raise ErasureFailed(f"unknown kind {kind[:16]}")

    def run_once(self) -> int:
        claimed = self.claim()
        for row_id, token, kind, target, attempts, secret in claimed:
            try:
                self.erase_one(kind, target, secret)
            except ErasureFailed as exc:
                self._failed(row_id, token, kind, attempts + 1, str(exc))
            except Exception as exc:  # noqa: BLE001 - kept for the next round, whatever it was
                self._failed(row_id, token, kind, attempts + 1, type(exc).__name__)
            else:
                with self.db.session() as s:
                    s.execute(delete(PendingErasure).where(
                        and_(PendingErasure.id == row_id, PendingErasure.claim_token == token)))
        return len(claimed)

    def _failed(self, row_id: int, token: str, kind: str, attempts: int, error: str) -> None:
        log.warning("erasure of a %s failed (attempt %d, will retry): %s", kind, attempts, error)
        with self.db.session() as s:
            s.execute(
                update(PendingErasure)
                .where(and_(PendingErasure.id == row_id, PendingErasure.claim_token == token))
                .values(attempts=attempts, last_error=error[:100], claimed_until=None,
                        next_attempt_at=self.clock() + backoff(attempts))
            )

    def pending(self) -> int:
        with self.db.session() as s:
            return len(s.scalars(select(PendingErasure.id)).all())

    def start(self, poll_seconds: float) -> None:
        self._worker.start(poll_seconds)

    def stop(self) -> None:
        self._worker.stop()


def make_redactor(settings) -> MessageRedactor:  # noqa: ANN001 - gateway.config.Settings
    if settings.is_sms_simulated:
        return NothingToRedact()
    return TwilioRedactor(
        account_sid=settings.twilio_account_sid or "",
        auth_token=settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else "",
        api_base_url=settings.twilio_api_base_url,
    )
