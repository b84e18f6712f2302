"""Issue 11: a bad-input run of schemathesis against the gateway's OpenAPI spec, in-process
(ASGI), deterministic (derandomized, a fixed number of examples per operation, no example
database) and quick: no input may make the gateway answer 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from gateway.app import create_app
from gateway.config import Settings
from gateway.db import upgrade_database
from tests.unit.fakes import FakeRasa

EXAMPLES_PER_OPERATION = 200


def api_schema():
    """Built when the module is collected: schemathesis parametrizes from a loaded schema (its
    fixture loader does not work with this pytest)."""
    url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='rightsline-schemathesis-')) / 'rl.db'}"
    upgrade_database(url)
    app = create_app(
        Settings(database_url=url, environment="test", detect_language=False,
                 # the flood limits answer 429 (fine), but would stop the run reaching the turn
                 webchat_rate_limit_per_client=100_000,
                 webchat_rate_limit_per_conversation=100_000,
                 webchat_new_conversations_per_client=100_000),
        rasa=FakeRasa(reply="utter_greet").client(), start_outbox_worker=False)

    async def once(scope, receive, send):  # noqa: ANN001, ANN202
        """The app without its lifespan: schemathesis opens a test client (start-up and
        shut-down) for every call, and shut-down closes the Rasa client and the executors."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await app(scope, receive, send)

    schema = schemathesis.openapi.from_asgi("/openapi.json", once)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES_PER_OPERATION, deterministic=True)
    return schema


schema = api_schema()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_gateway_fail(case):
    response = case.call()
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}")
