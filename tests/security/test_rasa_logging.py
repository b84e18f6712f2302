"""Rasa logs the person's words at DEBUG (issue 11, item 15): the line's processes run at
INFO whatever the operator's shell says. The e2e log-grep test
(tests/e2e/test_internal_doors_e2e.py) checks Rasa's and the action server's logs for the
words of a real turn."""

from __future__ import annotations

from scripts.stack import Stack, loopback_settings


def test_rasa_runs_at_info_even_when_the_shell_asks_for_debug(tmp_path, monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")  # read by `rasa run` when no flag is given
    stack = Stack(settings=loopback_settings(tmp_path), log_dir=tmp_path / "log")
    assert stack.env()["LOG_LEVEL"] == "INFO"


def test_the_default_endpoints_use_the_erasable_tracker_store():
    """Rasa's own in-memory store would answer an erasure without confirming it: the gateway
    would retry it for ever. Every endpoints file names a bot.stores store."""
    from gateway.config import REPO_ROOT

    for name in ("endpoints.yml", "endpoints.redis.yml", "endpoints.sql.yml"):
        text = (REPO_ROOT / "bot" / name).read_text()
        assert "type: bot.stores.Erasable" in text, name
