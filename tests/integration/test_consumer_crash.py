"""kill -9 of a consumer in the middle of a 20,000-event run, on SQLite and PostgreSQL:
nothing is lost, nothing is applied twice.

The metrics service counts plan.submitted.v1 per plan, one increment per event, so its
count is exactly the number of times events were applied. A build of it for this test kills
itself with SIGKILL at the two moments that matter (the service works through 20,000
events in about a second, too fast to aim a kill from outside): right after a batch's
transaction commits and before its offsets do, and with a batch's transaction still open.
"""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from scripts.stack import ServiceProcess, Tansu, service_env
from services.metrics.tables import PlanCount
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.planning import PlanSubmitted
from shared.db import create_engine
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
            data = PlanSubmitted(
                plan_id=PLAN,
                title=f"Kommune forfra {i}",
                owner="Aarhus Kommune",
                submitted_by="planner",
                submitted_at=datetime.now(UTC),
            )
            envelope = new_envelope(
                data, source="/tests", subject=f"plan-{i % 50}", correlation_id=f"crash-{i}"
            )
            value = envelope.model_dump_json().encode()
            sent.append(await producer.send(topics.PLANS, value, key=envelope.subject.encode()))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def metrics_process(database_url: str, bootstrap: str, log: Path, **crash: str):  # type: ignore[no-untyped-def]
    env = service_env("metrics", database_url=database_url, bootstrap=bootstrap, jwt_secret=SECRET)
    if crash:
        env |= {name.upper(): value for name, value in crash.items()}
    module = "tests.crashing_metrics" if crash else None
    return ServiceProcess("metrics", env, log, module=module)


async def killed(process: ServiceProcess) -> None:
    assert process.process is not None
    assert await asyncio.to_thread(process.process.wait, 120) == -signal.SIGKILL


async def applied_in(database_url: str) -> int:
    """The count in the service's database, read while no service runs."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(PlanCount.count).where(
                    PlanCount.plan_id == PLAN, PlanCount.event_type == "plan.submitted.v1"
                )
            )
    finally:
        await engine.dispose()
    return count or 0


async def applied(client: httpx.AsyncClient, url: str) -> int:
    """The count the service reports; -1 while it is too busy catching up to answer (on a
    loaded 2-core machine a read can wait behind the run's batches)."""
    try:
        response = await client.get(f"{url}/v1/plans/{PLAN}/counts", headers=auth("analyst"))
    except httpx.TimeoutException:
        return -1
    return response.json()["counts"].get("plan.submitted.v1", 0)


async def test_kill_9_in_the_middle_of_a_run_loses_nothing_and_applies_nothing_twice(
    database_url: str, broker: Tansu, tmp_path: Path
) -> None:
    await produce_submissions(broker.bootstrap, EVENTS)
    # 1. dies right after its first batch committed, before the offsets did
    await killed(
        metrics_process(
            database_url, broker.bootstrap, tmp_path / "1.log", crash="after_commit"
        ).start()
    )
    after_first = await applied_in(database_url)
    # 2. takes that batch again (the inbox absorbs it) and dies inside its third batch
    await killed(
        metrics_process(
            database_url,
            broker.bootstrap,
            tmp_path / "2.log",
            crash="before_commit",
            crash_on_batch="3",
        ).start()
    )
    after_second = await applied_in(database_url)
    assert 0 < after_first < after_second < EVENTS  # both died in the middle of the run
    # 3. finishes the run
    last = metrics_process(database_url, broker.bootstrap, tmp_path / "3.log").start()
    try:
        await asyncio.to_thread(last.wait_ready)
        async with httpx.AsyncClient(timeout=10) as client:
            await eventually(lambda: applied(client, last.url), lambda n: n >= EVENTS, 180)
            await asyncio.sleep(2)  # time enough for a second effect to show
            assert await applied(client, last.url) == EVENTS
    finally:
        last.stop()
