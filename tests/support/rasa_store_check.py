"""Run under .venv-rasa: exercises a tracker store class the way Rasa's server does (through
its FailSafeTrackerStore wrapper, the replace-events path) and prints what is left in the
real backing store as JSON. Used by tests/security/test_erasure.py.

    .venv-rasa/bin/python -m tests.support.rasa_store_check '<json config>'

config: {"store": "module.Class", "kwargs": {...}, "backend": "redis"|"sql"|"memory",
         "sender": "...", "text": "..."}
"""

from __future__ import annotations

import asyncio
import json
import sys

import rasa.shared.utils.common
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

ERASE_REQUEST = [{"event": "action", "name": "rightsline_erase_tracker"}]


def stored_text(store, backend: str, sender: str) -> str:  # noqa: ANN001
    """Everything the backing store holds for the sender, as text ('' when nothing)."""
    try:
        return _stored_text(store, backend, sender)
    except Exception as exc:  # noqa: BLE001 - a store that is down
        return f"<unreachable: {type(exc).__name__}>"


def _stored_text(store, backend: str, sender: str) -> str:  # noqa: ANN001
    if backend == "redis":
        return store.red.get(store.key_prefix + sender) or ""
    if backend == "sql":
        with store.session_scope() as session:
            rows = session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender).all()
            return "\n".join(row.data for row in rows)
    return store.store.get(sender) or ""


def ttl(store, backend: str, sender: str) -> int | None:  # noqa: ANN001
    try:
        return store.red.ttl(store.key_prefix + sender) if backend == "redis" else None
    except Exception:  # noqa: BLE001 - a store that is down
        return None


async def main(config: dict) -> dict:
    cls = rasa.shared.utils.common.class_from_module_path(config["store"])
    domain = Domain.empty()
    store = cls(domain=domain, **config["kwargs"])
    server_view = FailSafeTrackerStore(store)  # what Rasa's agent wraps every store in
    sender, backend = config["sender"], config["backend"]
    result: dict = {}
    try:
        tracker = DialogueStateTracker(sender, domain.slots)
        tracker.update(ActionExecuted("action_listen"))
        tracker.update(UserUttered(config["text"], {"name": "greet", "confidence": 1.0}))
        await server_view.save(tracker)
        result["before"] = stored_text(store, backend, sender)
        # Rasa's PUT /conversations/<id>/tracker/events: a tracker from the request's events.
        replaced = DialogueStateTracker.from_dict(sender, ERASE_REQUEST, domain.slots)
        await server_view.save(replaced)
        result["answer_events"] = [e.as_dict().get("name") for e in replaced.events]
        result["after"] = stored_text(store, backend, sender)
        result["ttl_after"] = ttl(store, backend, sender)
        # A new conversation's first save (an empty tracker) is an ordinary save, not an erasure.
        fresh = DialogueStateTracker(sender + "-new", domain.slots)
        await server_view.save(fresh)
        result["fresh_events"] = [e.as_dict().get("name") for e in fresh.events]
    finally:
        if config.get("is_down"):
            pass
        elif backend == "redis":
            for key in store.red.keys(store.key_prefix + sender + "*"):
                store.red.delete(key)
        elif backend == "sql":
            with store.session_scope() as session:
                session.query(store.SQLEvent).filter(
                    store.SQLEvent.sender_id.like(sender + "%")).delete(synchronize_session=False)
                session.commit()
    return result


if __name__ == "__main__":
    print("RESULT " + json.dumps(asyncio.run(main(json.loads(sys.argv[1])))))
