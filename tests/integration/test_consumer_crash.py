"""kill -9 of a consumer in the middle of a 20,000-event run, on SQLite and PostgreSQL:
nothing is lost, nothing is applied twice.

The metrics service counts plan.submitted.v1 per plan, one increment per event, so its
count is exactly the number of times events were applied. It is killed twice: once right
after a batch's transaction commits and before its offsets are (a test build of it that
kills itself there), once at an arbitrary moment while it works through the backlog.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from scripts.stack import ServiceProcess, Tansu, service_env
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.planning import PlanSubmitted
from tests.helpers import SECRET, auth, eventually

pytestmark = pytest.mark.integration

EVENTS = 20_000
PLAN = "kommune-forfra"


async def produce_submissions(bootstrap: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = []
        for i in range(count):
            data = PlanSubmitted(plan_id=PLAN, title=f"Kommune forfra {i}", owner="Aarhus Kommune",
                                 submitted_by="planner", submitted_at=datetime.now(UTC))  # fmt: skip
            envelope = new_envelope(data, source="/tests", subject=f"plan-{i % 50}",
                                    correlation_id=f"crash-{i}")  # fmt: skip
            value = envelope.model_dump_json().encode()
            sent.append(await producer.send(topics.PLANS, value, key=envelope.subject.encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def metrics_process(database_url: str, bootstrap: str, log: Path, module: str | None = None):  # type: ignore[no-untyped-def]
    env = service_env("metrics", database_url=database_url, bootstrap=bootstrap, jwt_secret=SECRET)
    return ServiceProcess("metrics", env, log, module=module)


async def applied(client: httpx.AsyncClient, url: str) -> int:
    response = await client.get(f"{url}/v1/plans/{PLAN}/counts", headers=auth("analyst"))
    return response.json()["counts"].get("plan.submitted.v1", 0)


async def duplicates_seen(client: httpx.AsyncClient, url: str) -> float:
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith("budskab_consumer_messages_total{") and 'outcome="duplicate"' in line:
            if f'topic="{topics.PLANS}"' in line:
                return float(line.rpartition(" ")[2])
    return 0.0


async def test_kill_9_in_the_middle_of_a_run_loses_nothing_and_applies_nothing_twice(
    database_url: str, broker: Tansu, tmp_path: Path
) -> None:
    await produce_submissions(broker.bootstrap, EVENTS)
    async with httpx.AsyncClient(timeout=10) as client:
        # 1. dies right after its first batch committed, before the offsets did
        crashing = metrics_process(database_url, broker.bootstrap, tmp_path / "crash.log",
                                   module="tests.crash_after_commit").start()  # fmt: skip
        assert await asyncio.to_thread(crashing.process.wait, 120) == -signal.SIGKILL

        # 2. takes the same batch again (the inbox absorbs it), and is killed while at work
        second = metrics_process(database_url, broker.bootstrap, tmp_path / "second.log").start()
        try:
            await asyncio.to_thread(second.wait_ready)
            committed_before = await applied(client, second.url)
            assert committed_before >= 100  # the first one's batch was committed
            await eventually(lambda: applied(client, second.url), lambda n: n >= 8_000, 120)
            # the batch committed before the crash came back and had no second effect
            assert await duplicates_seen(client, second.url) >= committed_before
            second.process.send_signal(signal.SIGKILL)
            second.process.wait(10)
        finally:
            second.stop()

        # 3. finishes the run
        third = metrics_process(database_url, broker.bootstrap, tmp_path / "third.log").start()
        try:
            await asyncio.to_thread(third.wait_ready)
            await eventually(lambda: applied(client, third.url), lambda n: n >= EVENTS, 180)
            await asyncio.sleep(2)  # time enough for a second effect to show
            assert await applied(client, third.url) == EVENTS
        finally:
            third.stop()
