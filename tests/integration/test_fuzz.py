"""Fuzzing each running service from its OpenAPI document, as a hostile client would.

Schemathesis (its command line, as one would run it by hand) sends boundary values, data that
fits the schema and data that does not to every operation, then sequences of calls chained
through earlier answers (the stateful phase), with a token that may do everything so that
requests reach the code behind the auth checks. No answer may be a server error or take a
second. Each service runs as its own process on SQLite beside a real broker. Bounded and
repeatable: `FUZZ_EXAMPLES` (15 by default) examples per operation, deterministic; about a
minute for the four services.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.stack import DEV_SMS_REPLY_SECRET, SERVICES, ServiceProcess, Tansu, service_env
from tests.helpers import SECRET, token

pytestmark = pytest.mark.integration

EXAMPLES = os.environ.get("FUZZ_EXAMPLES", "15")


@pytest.fixture(scope="module")
def fuzz_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    tansu = Tansu(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    yield tansu
    tansu.stop()


@pytest.mark.parametrize("name", SERVICES)
def test_no_input_gets_a_server_error_or_takes_a_second(
    name: str, fuzz_broker: Tansu, tmp_path: Path
) -> None:
    env = service_env(
        name,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{name}.db",
        bootstrap=fuzz_broker.bootstrap,
        jwt_secret=SECRET,
        smtp_port=1,
    )
    log = tmp_path / f"{name}.log"
    env[f"{name.upper()}_LOG_LEVEL"] = "WARNING"
    if name == "notifications":  # configured as in production: SMS replies are taken
        env["NOTIFICATIONS_SMS_REPLY_SECRET"] = DEV_SMS_REPLY_SECRET
    service = ServiceProcess(name, env, log).start()
    try:
        service.wait_ready()
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{service.url}/openapi.json",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--checks",
                "not_a_server_error",
                "--max-response-time",
                "1",
                "--header",
                f"Authorization: Bearer {token('admin')}",
                "--max-examples",
                EXAMPLES,
                "--generation-deterministic",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks"},
        )
    finally:
        service.stop()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "✅ Stateful" in run.stdout, run.stdout[-3000:]  # the phase ran, and passed
    assert "unhandled error" not in log.read_text(errors="replace")  # nothing the API hid
