"""Fuzzing each running service from its OpenAPI document, as a hostile client would.

Schemathesis sends data that fits the schema and data that does not, to every operation, with a
token that may do everything (so that requests reach the code behind the auth checks), and then
runs sequences of calls (the stateful phase). No answer may be a server error or take a second.
Each service runs as its own process on SQLite beside a real broker. Bounded: a fixed number of
examples per operation (`FUZZ_EXAMPLES`, 15 by default) and deterministic, so CI stays short.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.transport import Response

from scripts.stack import SERVICES, ServiceProcess, Tansu, service_env
from tests.helpers import SECRET, token

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
ADMIN = {"Authorization": f"Bearer {token('admin')}"}


@pytest.fixture(scope="module")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    tansu = Tansu(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    yield tansu
    tansu.stop()


@pytest.fixture(scope="module", params=SERVICES)
def service(
    request: pytest.FixtureRequest, fuzz_broker: Tansu, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    name = request.param
    where = tmp_path_factory.mktemp(name)
    env = service_env(
        name,
        database_url=f"sqlite+aiosqlite:///{where}/{name}.db",
        bootstrap=fuzz_broker.bootstrap,
        jwt_secret=SECRET,
        smtp_port=1,
    )
    process = ServiceProcess(
        name, {**env, f"{name.upper()}_LOG_LEVEL": "WARNING"}, where / f"{name}.log"
    ).start()
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


@pytest.fixture
def service_schema(service: ServiceProcess):  # type: ignore[no-untyped-def]
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    schema.config.update(base_url=service.url)
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        deterministic=True,
    )
    return schema


def answered_in_time_without_a_server_error(response: Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    assert response.elapsed < 1.0, f"{what}: took {response.elapsed:.2f} s"


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gets_a_server_error_or_takes_a_second(service_schema, mode) -> None:  # type: ignore[no-untyped-def]
    """Every operation, with data that fits its schema and data that does not."""
    for result in service_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @FUZZ_SETTINGS
        def call(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call(headers=ADMIN, timeout=10)
            answered_in_time_without_a_server_error(
                response, f"{case.method} {case.formatted_path}"
            )

        try:
            call()
        except Unsatisfiable:
            # nothing of this operation can be made invalid (a GET without parameters)
            assert mode is GenerationMode.NEGATIVE, operation.label


def test_sequences_of_calls_get_no_server_error(service_schema) -> None:  # type: ignore[no-untyped-def]
    """The stateful phase: calls chained through what earlier answers returned."""

    class Calls(service_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):  # type: ignore[no-untyped-def]
            return {"headers": ADMIN, "timeout": 10}

        def validate_response(self, response, case, **_kwargs):  # type: ignore[no-untyped-def]
            answered_in_time_without_a_server_error(
                response, f"{case.method} {case.formatted_path}"
            )

    runner = Calls.TestCase
    # random (not derandomized) and not shrunk: the service's state moves on between runs, so
    # the same choices cannot replay the same sequence (Hypothesis would call it flaky)
    runner.settings = settings(
        FUZZ_SETTINGS, derandomize=False, stateful_step_count=5, phases=[Phase.generate]
    )
    runner().runTest()


def test_logs_show_no_crash(service: ServiceProcess) -> None:
    """What the fuzzing left in the service's log: no unhandled error."""
    log = Path(service.log_path).read_text(errors="replace")
    assert "unhandled error" not in log and "Traceback" not in log, log[-3000:]
