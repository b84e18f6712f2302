"""Tracker stores that can really erase a conversation (bot/endpoints*.yml load them).

The gateway erases a conversation's tracker by replacing its events with one request event
(`PUT /conversations/<id>/tracker/events` with `[{"event": "action", "name":
"rightsline_erase_tracker"}]`, gateway/bot/client.py). Rasa's own stores do not erase on a
replace: its Redis store merges the stored events back into the new tracker and renews the
key's expiry, its SQL store only appends the events it has not stored yet. These subclasses
recognise the request and delete the tracker itself (the Redis key, the SQL rows, the
in-memory entry), under the conversation's lock (Rasa's replace endpoint holds it).

Rasa wraps every store in a FailSafeTrackerStore that answers 200 even when the store
raised (it saves to memory instead), so a 200 proves nothing: after a successful deletion
the store adds a confirmation event to the tracker Rasa returns, and the gateway counts the
erasure as done only when it sees it (otherwise it retries, gateway/erasure.py).
Nothing here logs a conversation's content or id.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, RedisTrackerStore, SQLTrackerStore
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

log = logging.getLogger(__name__)

# The same names as gateway/bot/client.py (ERASE_TRACKER_REQUEST, TRACKER_ERASED_MARKER).
ERASE_REQUEST = "rightsline_erase_tracker"
ERASED_MARKER = "rightsline_tracker_erased"


class TrackerEraseFailed(Exception):
    """The store could not delete a tracker (message without the id or any content)."""


def is_erase_request(tracker: DialogueStateTracker) -> bool:
    events = list(tracker.events)
    return (len(events) == 1 and isinstance(events[0], ActionExecuted)
            and events[0].action_name == ERASE_REQUEST)


class _Erasable:
    async def save(self, tracker: DialogueStateTracker, *args: Any, **kwargs: Any) -> None:
        if not is_erase_request(tracker):
            await super().save(tracker, *args, **kwargs)  # type: ignore[misc]
            return
        try:
            self._delete_tracker(tracker.sender_id)
        except Exception as exc:  # noqa: BLE001 - re-raised without the driver's message
            log.error("tracker store: could not erase a tracker: %s", type(exc).__name__)
            raise TrackerEraseFailed(type(exc).__name__) from None
        tracker.update(ActionExecuted(ERASED_MARKER))

    def _delete_tracker(self, sender_id: str) -> None:
        raise NotImplementedError


class ErasableInMemoryTrackerStore(_Erasable, InMemoryTrackerStore):
    """Local and test runs (one Rasa process): trackers in memory."""

    def _delete_tracker(self, sender_id: str) -> None:
        self.store.pop(sender_id, None)


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class ErasableRedisTrackerStore(_Erasable, RedisTrackerStore):
    """Production with several Rasa replicas: trackers in Redis, expiring after `record_exp`
    seconds of inactivity. Values from ${ENV} in endpoints.yml arrive as strings."""

    def __init__(self, domain: Any = None, host: str = "localhost", port: Any = 6379, db: Any = 0,
                 username: str | None = None, password: str | None = None,
                 record_exp: Any = None, key_prefix: str | None = None, **kwargs: Any) -> None:
        super().__init__(domain, host=host or "localhost", port=_int_or_none(port) or 6379,
                         db=_int_or_none(db) or 0, username=username or None,
                         password=password or None, record_exp=_int_or_none(record_exp),
                         key_prefix=key_prefix or None, **kwargs)

    def _delete_tracker(self, sender_id: str) -> None:
        self.red.delete(self.key_prefix + sender_id)


class ErasableSQLTrackerStore(_Erasable, SQLTrackerStore):
    """Trackers as event rows in an SQL database (PostgreSQL): erasing deletes the rows."""

    def __init__(self, domain: Any = None, port: Any = None, **kwargs: Any) -> None:
        for key in ("username", "password", "login_db"):
            kwargs[key] = kwargs.get(key) or None
        super().__init__(domain, port=_int_or_none(port), **kwargs)

    def _delete_tracker(self, sender_id: str) -> None:
        with self.session_scope() as session:
            session.query(self.SQLEvent).filter(self.SQLEvent.sender_id == sender_id).delete(
                synchronize_session=False)
            session.commit()
