"""`make bench`: our event pipeline against raw aiokafka on the same broker, side by side.

Throughput, for each database (SQLite, PostgreSQL) and each N:
  ours — N events already written to a service's outbox (as its transactions leave them) →
         relay → Kafka → consumer that validates each envelope and claims it in its inbox (its
         own database of the same kind), in batches, committing offsets after the database;
  raw  — N values already serialised → aiokafka producer → Kafka → aiokafka consumer group
         (getmany), no database.
  Both are timed from the first publish to the last message taken (ours: committed in the
  inbox), after a warm-up message (so consumer-group joins are not timed).

Latency on an idle system, over single events one at a time:
  ours — HTTP POST /v1/plans/{id}/submit on planning → outbox → relay → Kafka → the metrics
         service's consumer → its count of plan.submitted.v1 committed (seen by polling its
         database every millisecond); both services in this process, on SQLite;
  raw  — aiokafka send_and_wait → the consumer's getone.

Each figure is the median over the runs; the ratios are ours / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from asgi_lifespan import LifespanManager
from sqlalchemy import MetaData, func, insert, select

from scripts.stack import Postgres, Tansu
from shared.auth import issue_token
from shared.contracts import new_envelope
from shared.contracts.notifications import DeliverySent
from shared.db import create_engine, create_sessions
from shared.inbox import inbox_table
from shared.logging import configure_logging
from shared.messaging import (
    EventConsumer,
    RelayProducer,
    Subscription,
    create_broker,
    ensure_topics,
)
from shared.outbox import OutboxRelay, outbox_row, outbox_table
from shared.uow import UnitOfWork

SECRET = "bench-secret-that-is-long-enough-for-hs256"


def payload(i: int) -> DeliverySent:
    return DeliverySent(
        delivery_id=f"d-{i}",
        activity_id="tendens-6",
        plan_id="brmj",
        contact_id=f"c-{i}",
        channel="newsletter",
        sent_at=datetime.now(UTC),
    )


def envelopes(n: int, run: str) -> list:
    return [
        new_envelope(payload(i), source="/bench", subject=f"d-{i}", correlation_id=run)
        for i in range(n)
    ]


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, every: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(every)


# --- throughput ---------------------------------------------------------------------------


async def last_of_each_partition(producer: RelayProducer, topic: str, events: list) -> list[str]:
    """The id of the last event that goes to each partition of `topic`."""
    last: dict[int, str] = {}
    for event in events:
        last[await producer.partition_of(topic, event.subject.encode())] = event.id
    return list(last.values())


async def our_path(bootstrap: str, n: int, database_urls: tuple[str, str]) -> float:
    """Events per second through outbox → relay → Kafka → consumer + inbox."""
    run = uuid.uuid4().hex[:8]
    topic = f"bench.ours.{run}"
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    engines = [create_engine(url) for url in database_urls]
    for engine in engines:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    producer_sessions, consumer_sessions = (create_sessions(e) for e in engines)

    async def effect_is_the_inbox_row(_uow, _envelope, _data) -> None:  # type: ignore[no-untyped-def]
        pass

    broker = create_broker(bootstrap, "bench")
    EventConsumer(
        Subscription(f"bench-{run}", (topic,), {DeliverySent: effect_is_the_inbox_row}),
        broker,
        lambda: UnitOfWork(consumer_sessions, outbox=outbox, inbox=inbox, source="/bench"),
    ).register()
    await ensure_topics(bootstrap, [topic, f"bench-{run}.dlq"])
    await broker.start()

    producer = RelayProducer(bootstrap, "bench")
    await producer.start()
    relay = OutboxRelay(outbox, producer_sessions, producer.publish, poll_interval=0.01)

    async def write(events: list) -> None:
        for first in range(0, len(events), 1000):
            async with producer_sessions.begin() as session:
                rows = [outbox_row(e, topic) for e in events[first : first + 1000]]
                await session.execute(insert(outbox), rows)

    async def claimed(event_ids: list[str]) -> bool:
        async with consumer_sessions() as session:
            found = select(func.count()).where(inbox.c.event_id.in_(event_ids))
            return await session.scalar(found) == len(event_ids)

    async def count() -> int:
        async with consumer_sessions() as session:
            return await session.scalar(select(func.count()).select_from(inbox)) or 0

    try:
        warm_up = envelopes(1, run)
        await write(warm_up)  # the consumer group has joined once it arrives
        await relay.publish_batch()
        await wait_until(lambda: claimed([warm_up[0].id]), 60, every=0.02)
        events = envelopes(n, run)
        await write(events)
        lasts = await last_of_each_partition(producer, topic, events)
        del events  # in the outbox now: a service holds no such heap of objects
        gc.collect()
        started = time.perf_counter()
        relay_task = asyncio.create_task(relay.run())
        try:
            # A partition is consumed in order and each batch commits whole: once its last
            # event is in the inbox, all of it is. (A count over the inbox every 20 ms would
            # cost this side alone a growing scan.)
            await wait_until(lambda: claimed(lasts), 900, every=0.02)
            elapsed = time.perf_counter() - started
        finally:
            relay_task.cancel()
        if (seen := await count()) != n + 1:
            raise RuntimeError(f"the inbox holds {seen} events, not {n + 1}")
    finally:
        await broker.stop()
        await producer.stop()
        for engine in engines:
            await engine.dispose()
    return n / elapsed


async def raw_path(bootstrap: str, n: int) -> float:
    """Events per second through a bare aiokafka producer and consumer group."""
    run = uuid.uuid4().hex[:8]
    topic = f"bench.raw.{run}"
    await ensure_topics(bootstrap, [topic])
    values = [e.model_dump_json().encode() for e in envelopes(n + 1, run)]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5
    )
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"raw-{run}", auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, values[0], key=b"warm-up")
        await consumer.getone()  # warm-up: the group has joined
        gc.collect()
        started = time.perf_counter()
        sends = [
            await producer.send(topic, v, key=f"d-{i}".encode()) for i, v in enumerate(values[1:])
        ]
        await asyncio.gather(*sends)
        received = 0
        while received < n:
            batch = await consumer.getmany(timeout_ms=500)
            received += sum(len(records) for records in batch.values())
        await consumer.commit()
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()
    return n / elapsed


# --- latency ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(app) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client


async def our_latencies(bootstrap: str, count: int, workdir: Path) -> list[float]:
    """Seconds from an HTTP write on planning to its effect committed by metrics, per event."""
    from services.metrics.app import create_app as metrics_app
    from services.metrics.settings import MetricsSettings
    from services.metrics.tables import PlanCount
    from services.planning.app import create_app as planning_app
    from services.planning.settings import PlanningSettings

    run = uuid.uuid4().hex[:8]
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "jwt_secret": SECRET,
        "log_json": False,
        "log_level": "WARNING",
    }
    planning = planning_app(
        PlanningSettings(database_url=f"sqlite+aiosqlite:///{workdir}/planning-{run}.db", **common)
    )
    metrics = metrics_app(
        MetricsSettings(database_url=f"sqlite+aiosqlite:///{workdir}/metrics-{run}.db", **common)
    )
    planner = {"Authorization": f"Bearer {issue_token(SECRET, subject='bench', roles=['planner'])}"}
    metrics_sessions = metrics.state.runtime.sessions

    async def submitted(plan_id: str) -> bool:
        async with metrics_sessions() as session:
            count = await session.scalar(
                select(PlanCount.count).where(
                    PlanCount.plan_id == plan_id, PlanCount.event_type == "plan.submitted.v1"
                )
            )
        return bool(count)

    latencies = []
    async with serving(planning) as api, serving(metrics):
        plan = {
            "title": "Tendens 2015",
            "owner": "Beskæftigelsesregion Midtjylland",
            "sender": "Regionen",
        }
        for i in range(count + 1):  # the first is the warm-up: consumer groups join
            created = await api.post("/v1/plans", json=plan, headers=planner)
            plan_id = created.json()["id"]
            await asyncio.sleep(0.05)  # idle: the relay has nothing else to do
            started = time.perf_counter()
            response = await api.post(f"/v1/plans/{plan_id}/submit", headers=planner)
            response.raise_for_status()
            await wait_until(lambda: submitted(plan_id), 60, every=0.001)  # noqa: B023
            if i:
                latencies.append(time.perf_counter() - started)
    return latencies


async def raw_latencies(bootstrap: str, count: int) -> list[float]:
    run = uuid.uuid4().hex[:8]
    topic = f"bench.latency.{run}"
    await ensure_topics(bootstrap, [topic])
    value = envelopes(1, run)[0].model_dump_json().encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"raw-{run}", auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    latencies = []
    try:
        for i in range(count + 1):
            started = time.perf_counter()
            await producer.send_and_wait(topic, value, key=b"k")
            await consumer.getone()
            await consumer.commit()
            if i:
                latencies.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- main ---------------------------------------------------------------------------------


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--events", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--latency-events", type=int, default=200, help="0 skips latency")
    args = parser.parse_args()
    configure_logging("bench", "WARNING", json=False)
    gc.freeze()  # as the services do once started (shared/http.py): both sides alike
    tansu = Tansu().start()
    postgres = Postgres().start() if "postgresql" in args.databases else None
    results: list[tuple[str, int, float, float]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for database in args.databases:
                for n in args.events:
                    ours, raw = [], []
                    for run in range(1, args.runs + 1):
                        urls = database_urls(database, workdir, postgres)
                        raw.append(await raw_path(tansu.bootstrap, n))
                        ours.append(await our_path(tansu.bootstrap, n, urls))
                        print(
                            f"{database:10} N={n:<7} run {run}: raw {raw[-1]:8.0f}/s   "
                            f"ours {ours[-1]:8.0f}/s   {ours[-1] / raw[-1]:.3f}",
                            flush=True,
                        )
                    results.append((database, n, statistics.median(ours), statistics.median(raw)))
            if args.latency_events:
                ours_l = await our_latencies(tansu.bootstrap, args.latency_events, workdir)
                raw_l = await raw_latencies(tansu.bootstrap, args.latency_events)
    finally:
        if postgres:
            postgres.stop()
        tansu.stop()

    print(f"\nThroughput, events/s, median of {args.runs} runs:")
    print(f"  {'database':10} {'N':>7} {'raw aiokafka':>13} {'ours':>9} {'ours/raw':>9}")
    for database, n, ours_median, raw_median in results:
        print(
            f"  {database:10} {n:7} {raw_median:13.0f} {ours_median:9.0f} "
            f"{ours_median / raw_median:9.3f}"
        )
    if args.latency_events:
        print(f"\nLatency of one event on an idle system, ms, over {len(ours_l)} events:")
        print(f"  {'':38} {'p50':>7} {'p99':>7}")
        for name, values in (
            ("raw aiokafka produce → consume", raw_l),
            ("ours: HTTP write → effect committed", ours_l),
        ):
            print(
                f"  {name:38} {percentile(values, 50) * 1000:7.1f} "
                f"{percentile(values, 99) * 1000:7.1f}"
            )
        print(
            f"  {'ratio ours / raw':38} "
            f"{percentile(ours_l, 50) / percentile(raw_l, 50):7.1f} "
            f"{percentile(ours_l, 99) / percentile(raw_l, 99):7.1f}"
        )


def database_urls(database: str, workdir: Path, postgres: Postgres | None) -> tuple[str, str]:
    """A producer and a consumer database of the same kind, new for each run."""
    run = uuid.uuid4().hex[:8]
    if database == "sqlite":
        return (
            f"sqlite+aiosqlite:///{workdir}/producer-{run}.db",
            f"sqlite+aiosqlite:///{workdir}/consumer-{run}.db",
        )
    assert postgres is not None
    return postgres.create_database(f"producer_{run}"), postgres.create_database(f"consumer_{run}")


if __name__ == "__main__":
    asyncio.run(main())
