"""Start and stop the whole line: action server, Rasa server and gateway.

Used by `make run` (scripts/run.py), the end-to-end tests and the benchmarks, so all three
run the same processes the same way.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from gateway.config import REPO_ROOT, Settings
from gateway.db import Database, upgrade_database
from gateway.escalation.regions import sync_regions

RASA_BIN = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"
GATEWAY_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
DEFAULT_MODEL = REPO_ROOT / "models" / "rightsline.tar.gz"
LOOPBACK_TWILIO_TOKEN = "loopback-twilio-auth-token"


class StackError(RuntimeError):
    pass


# Where each process's code and configuration live: what they read is what they get.
PROCESS_SOURCES = {"rasa": REPO_ROOT / "bot", "actions": REPO_ROOT / "actions"}
_VARIABLE = re.compile(r"RIGHTSLINE_[A-Z0-9_]*[A-Z0-9]")


@functools.cache
def variables_read_by(root: Path) -> frozenset[str]:
    """Every RIGHTSLINE_ name written in the Python and YAML files under `root` (os.environ
    look-ups, ${...} in Rasa's endpoints and credentials)."""
    names: set[str] = set()
    for path in root.rglob("*"):
        if path.suffix in (".py", ".yml", ".yaml") and path.is_file():
            names.update(_VARIABLE.findall(path.read_text(errors="replace")))
    return frozenset(names)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_settings(tmp: Path, **overrides) -> Settings:
    """Settings for a throwaway line on free loopback ports with its own SQLite file (tests and
    benchmarks). SMS runs in simulator mode with signatures checked (a Twilio auth token)."""
    gateway_port = free_port()
    values = dict(
        environment="test",
        database_url=f"sqlite:///{tmp / 'rightsline.db'}",
        gateway_port=gateway_port,
        rasa_port=free_port(),
        actions_port=free_port(),
        internal_token="loopback-" + "x" * 40,
        public_base_url=f"http://127.0.0.1:{gateway_port}",
        twilio_auth_token=LOOPBACK_TWILIO_TOKEN,
        rasa_timeout_seconds=20,
        # Every test and benchmark talks from the one loopback address: the per-client web
        # chat flood limits (gateway.abuse) would stop a whole e2e run after ten chats.
        webchat_rate_limit_per_client=100_000,
        webchat_new_conversations_per_client=100_000,
    )
    values.update(overrides)
    return Settings(**values)


@dataclass
class Stack:
    settings: Settings
    log_dir: Path
    model: Path = DEFAULT_MODEL
    extra_env: dict[str, str] = field(default_factory=dict)
    # Rasa's endpoints: bot/endpoints.yml (trackers in memory), .redis.yml or .sql.yml
    endpoints: str = "bot/endpoints.yml"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def env(self, process: str = "gateway") -> dict[str, str]:
        """The environment of one of the three processes. The gateway gets every setting;
        Rasa and the action server only the RIGHTSLINE_ variables their own code and
        configuration read (`variables_read_by`): no database URL, no number keys, no Twilio
        token in processes that never use them."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("RIGHTSLINE_")}
        if process != "gateway":
            # The operator's own variables for this process (e.g. RIGHTSLINE_RASA_REDIS_HOST).
            env.update({k: v for k, v in os.environ.items() if k.startswith("RIGHTSLINE_")})
        # Every setting goes to the child processes as the RIGHTSLINE_ variable it came from.
        for name, value in s.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, (list, dict)):
                value = json.dumps(value)
            env[f"RIGHTSLINE_{name.upper()}"] = str(value)
        env.update(
            {
                # read by bot/endpoints.yml
                "RIGHTSLINE_NLG_URL": f"{s.gateway_url}/nlg",
                "RIGHTSLINE_ACTIONS_URL": f"{s.actions_url}/webhook",
                # the action server calls the gateway's internal API (never the database)
                "RIGHTSLINE_GATEWAY_INTERNAL_URL": s.gateway_url,
                # Rasa / rasa_sdk / TensorFlow: quiet, offline, loopback only
                "SANIC_HOST": s.actions_host,
                "RASA_TELEMETRY_ENABLED": "false",
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONWARNINGS": "ignore",
                "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
                # Rasa logs message text at DEBUG: INFO whatever the caller's shell says
                "LOG_LEVEL": "INFO",
                "MPLCONFIGDIR": str(REPO_ROOT / "var" / "mpl"),
            }
        )
        if process != "gateway":
            wanted = variables_read_by(PROCESS_SOURCES[process])
            env = {k: v for k, v in env.items() if not k.startswith("RIGHTSLINE_") or k in wanted}
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, cmd: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=self.env(name), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 300) -> None:
        s = self.settings
        if not self.model.exists():
            raise StackError(f"no trained model at {self.model}: run `make model`")
        upgrade_database(s.database_url)
        database = Database(s.database_url)
        with database.session() as session:
            sync_regions(session)
        database.dispose()
        self._spawn("actions", [str(RASA_PYTHON), "-m", "actions.server"])
        self.start_rasa()
        self._spawn("gateway", [str(GATEWAY_PYTHON), "-m", "uvicorn", "gateway.app:create_app",
                                "--factory", "--host", s.gateway_host,
                                "--port", str(s.gateway_port), "--no-access-log"])
        self.wait_healthy(timeout)

    def start_rasa(self) -> None:
        """Start the Rasa server (again, for tests that stopped it with stop_one)."""
        s = self.settings
        self._spawn("rasa", [str(RASA_BIN), "run", "--enable-api",
                             "--auth-token", s.internal_token.get_secret_value(),
                             "-i", s.rasa_host, "-p", str(s.rasa_port), "-m", str(self.model),
                             "--endpoints", self.endpoints,
                             "--credentials", "bot/credentials.yml"])

    def rasa_is_up(self) -> bool:
        s = self.settings
        try:
            r = httpx.get(f"{s.rasa_url}/status", timeout=5,
                          params={"token": s.internal_token.get_secret_value()})
            return r.status_code == 200 and bool(r.json().get("model_file"))
        except (httpx.HTTPError, ValueError):
            return False

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        # Every part, behind the internal token (the public /healthz only says the gateway runs).
        url = f"{self.settings.gateway_url}/internal/health"
        auth = {"Authorization": f"Bearer {self.settings.internal_token.get_secret_value()}"}
        while time.monotonic() < deadline:
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    raise StackError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if httpx.get(url, headers=auth, timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise StackError(
            "the line did not become healthy in time:\n"
            + "\n".join(f"--- {n}\n{self.log_tail(n)}" for n in self.processes)
        )

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_one(self, name: str, timeout: float = 20) -> None:
        proc = self.processes.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for name in ("gateway", "rasa", "actions"):
            self.stop_one(name)


