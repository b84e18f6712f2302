"""The durable SMS outbox: a row is committed before anything is sent; workers claim rows
with a lease (safe with several gateway replicas: a conditional UPDATE claims a row once),
send through the SmsSender, retry with backoff on errors and 429s, and record Twilio's SID.
A worker that dies between claiming and sending leaves a lease that expires: the row is
sent by the next worker, once."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from gateway.background import PeriodicWorker
from gateway.db import Database
from gateway.models import Conversation, OutboxMessage, utcnow
from gateway.messaging.vault import NumberVault
from gateway.messaging.sender import SendError, SmsSender

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
TERMINAL_STATUSES = {"delivered", "failed", "undelivered", "dead", "simulated"}
# Not yet done with: everything else ("sent", and the final states) may lose its body.
UNSENT_STATUSES = ("pending", "sending")
PURGE_EVERY = timedelta(seconds=60)
Clock = Callable[[], datetime]


def enqueue(session: Session, *, conversation_id: str | None, to_encrypted: str, body: str) -> OutboxMessage:
    row = OutboxMessage(conversation_id=conversation_id, to_encrypted=to_encrypted, body=body)
    session.add(row)
    session.flush()
    return row


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(300, 2 ** attempts))


class OutboxWorker:
    def __init__(
        self, *, db: Database, sender: SmsSender, vault: NumberVault, status_callback_url: str | None,
        max_attempts: int = 8, clock: Clock = utcnow, batch_size: int = 20,
        body_retention: timedelta = timedelta(minutes=15),
    ) -> None:
        self.db = db
        self.sender = sender
        self.vault = vault
        self.status_callback_url = status_callback_url
        self.max_attempts = max_attempts
        self.clock = clock
        self.batch_size = batch_size
        self.body_retention = body_retention
        self._next_purge_at: datetime | None = None
        self._worker = PeriodicWorker("sms-outbox", self.run_once)

    # --- claiming -------------------------------------------------------------------
    def claim(self) -> list[tuple[int, str]]:
        """Claim due rows; returns (id, claim_token) for the rows this worker now owns."""
        now = self.clock()
        token = secrets.token_hex(8)
        with self.db.session() as s:
            candidates = s.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.status.in_(("pending", "sending")))
                .where(OutboxMessage.next_attempt_at <= now)
                .where(or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
                .order_by(OutboxMessage.id)
                .limit(self.batch_size)
            ).all()
            claimed = []
            for row_id in candidates:
                result = s.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row_id)
                    .where(or_(OutboxMessage.claimed_until.is_(None),
                               OutboxMessage.claimed_until < now))
                    .where(OutboxMessage.status.in_(("pending", "sending")))
                    .values(claim_token=token, claimed_until=now + LEASE, status="sending")
                )
                if result.rowcount == 1:
                    claimed.append((row_id, token))
        return claimed

    # --- sending --------------------------------------------------------------------
    def send_one(self, row_id: int, token: str) -> None:
        with self.db.session() as s:
            row = s.get(OutboxMessage, row_id)
            if row is None or row.claim_token != token:
                return  # erased meanwhile, or another worker took it over
            conversation = s.get(Conversation, row.conversation_id) if row.conversation_id else None
            if conversation is not None and conversation.is_opted_out:
                row.status, row.last_error, row.claimed_until = "dead", "opted out", None
                return
            to, body, attempts = self.vault.decrypt(row.to_encrypted), row.body, row.attempts
        try:
            result = self.sender.send(to=to, body=body, status_callback=self.status_callback_url)
        except SendError as exc:
            self._record_failure(row_id, token, attempts + 1, exc)
            return
        with self.db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(and_(OutboxMessage.id == row_id, OutboxMessage.claim_token == token))
                .values(status="simulated" if result.status == "simulated" else "sent",
                        twilio_sid=result.sid, attempts=attempts + 1, sent_at=self.clock(),
                        claimed_until=None, last_error=None)
            )

    def _record_failure(self, row_id: int, token: str, attempts: int, exc: SendError) -> None:
        is_dead = not exc.is_retryable or attempts >= self.max_attempts
        log.warning("sms send failed (attempt %d, %s): %s", attempts,
                    "giving up" if is_dead else "will retry", exc)
        with self.db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(and_(OutboxMessage.id == row_id, OutboxMessage.claim_token == token))
                .values(status="dead" if is_dead else "pending", attempts=attempts,
                        last_error=str(exc)[:200], claimed_until=None,
                        next_attempt_at=self.clock() + backoff(attempts))
            )

    def run_once(self) -> int:
        claimed = self.claim()
        for row_id, token in claimed:
            self.send_one(row_id, token)
        now = self.clock()
        if self._next_purge_at is None or now >= self._next_purge_at:
            self._next_purge_at = now + PURGE_EVERY
            with self.db.session() as s:
                purge_done_bodies(s, now=now, older_than=self.body_retention)
        return len(claimed)

    # --- background thread ------------------------------------------------------------
    def start(self, poll_seconds: float) -> None:
        self._worker.start(poll_seconds)

    def stop(self) -> None:
        self._worker.stop()


def purge_done_bodies(session: Session, *, now: datetime, older_than: timedelta) -> int:
    """Blank the body and the encrypted number of every row the outbox is done with (sent or
    in a final state) whose last change is older than `older_than`: the row stays (status,
    Twilio's SID for status callbacks and for redaction at erasure), the words and the number
    go. Pages to coordinators have no conversation that would take them away otherwise."""
    return session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status.not_in(UNSENT_STATUSES))
        .where(OutboxMessage.updated_at < now - older_than)
        .where(or_(OutboxMessage.body != "", OutboxMessage.to_encrypted != ""))
        .values(body="", to_encrypted="")
        .execution_options(synchronize_session=False)
    ).rowcount


def record_status(session: Session, *, twilio_sid: str, status: str) -> bool:
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.twilio_sid == twilio_sid))
    if row is None:
        return False
    # Callbacks can arrive out of order; never move a row back from a final state.
    if row.status not in TERMINAL_STATUSES or status in {"failed", "undelivered"}:
        row.status = status
    return True
