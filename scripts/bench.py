"""`make bench`: N events through our path vs. raw aiokafka, on the same broker, in one run.

Our path: outbox rows written in transactions of 10 → relay → Kafka → FastStream consumer
that validates the envelope and records it in the inbox (its own database), acking each.
Raw: aiokafka produce → consumer group with getmany, no database.
Both start after a warm-up message (so consumer-group joins are not timed). Prints the rate
of each path per run, and the median rates and their ratio over the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import MetaData, func, insert, select

from scripts.stack import Tansu
from shared.contracts import new_envelope
from shared.contracts.notifications import DeliverySent
from shared.db import create_engine, create_sessions
from shared.inbox import inbox_table
from shared.logging import configure_logging
from shared.messaging import EventConsumer, Subscription, create_broker, ensure_topics
from shared.outbox import OutboxRelay, outbox_table
from shared.uow import UnitOfWork


def payload(i: int) -> DeliverySent:
    return DeliverySent(
        delivery_id=f"d-{i}", activity_id="tendens-6", plan_id="brmj", contact_id=f"c-{i}",
        channel="newsletter", sent_at=datetime.now(UTC),
    )  # fmt: skip


async def wait_until(check, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish in time")
        await asyncio.sleep(0.02)


async def our_path(bootstrap: str, n: int, workdir: Path, db_url: str | None) -> float:
    run = uuid.uuid4().hex[:8]
    topic = f"bench.ours.{run}"
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    engines = [
        create_engine(db_url or f"sqlite+aiosqlite:///{workdir}/producer-{run}.db"),
        create_engine(f"sqlite+aiosqlite:///{workdir}/consumer-{run}.db"),
    ]
    for engine in engines:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.run_sync(metadata.create_all)
    producer_sessions, consumer_sessions = (create_sessions(e) for e in engines)

    async def ignore(_uow, _envelope, _data) -> None:  # type: ignore[no-untyped-def]
        pass  # the effect is the inbox row itself

    broker = create_broker(bootstrap, "bench")
    EventConsumer(
        Subscription(f"bench-{run}", (topic,), {DeliverySent: ignore}),
        broker,
        lambda: UnitOfWork(consumer_sessions, outbox=outbox, inbox=inbox, source="/bench"),
    ).register()
    await ensure_topics(bootstrap, [topic, f"bench-{run}.dlq"])
    await broker.start()
    relay = OutboxRelay(outbox, producer_sessions, _publisher(broker), poll_interval=0.01)

    async def write(first: int, count: int) -> None:
        async with producer_sessions.begin() as session:
            rows = []
            for i in range(first, first + count):
                envelope = new_envelope(
                    payload(i), source="/bench", subject=f"d-{i}", correlation_id=run
                )
                row = {"event_id": envelope.id, "topic": topic, "key": envelope.subject,
                       "type": envelope.type, "payload": envelope.model_dump_json(),
                       "headers": "{}", "created_at": envelope.time, "attempts": 0}  # fmt: skip
                rows.append(row)
            await session.execute(insert(outbox), rows)

    async def consumed() -> int:
        async with consumer_sessions() as session:
            return await session.scalar(select(func.count()).select_from(inbox)) or 0

    try:
        await write(0, 1)  # warm-up: the consumer group has joined once this arrives
        await relay.publish_batch()
        await wait_until(lambda: _at_least(consumed, 1), 60)
        relay_task = asyncio.create_task(relay.run())
        started = time.perf_counter()
        for first in range(1, n + 1, 10):
            await write(first, min(10, n + 1 - first))
        await wait_until(lambda: _at_least(consumed, n + 1), 600)
        elapsed = time.perf_counter() - started
        relay_task.cancel()
    finally:
        await broker.stop()
        for engine in engines:
            await engine.dispose()
    return n / elapsed


async def _at_least(count, n: int) -> bool:  # type: ignore[no-untyped-def]
    return await count() >= n


def _publisher(broker):  # type: ignore[no-untyped-def]
    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> None:
        await broker.publish(value, topic, key=key, headers=headers)

    return publish


async def raw_path(bootstrap: str, n: int) -> float:
    run = uuid.uuid4().hex[:8]
    topic = f"bench.raw.{run}"
    await ensure_topics(bootstrap, [topic])
    values = [
        new_envelope(payload(i), source="/bench", subject=f"d-{i}", correlation_id=run)
        .model_dump_json()
        .encode()
        for i in range(n + 1)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"raw-{run}", auto_offset_reset="earliest"
    )
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, values[0], key=b"warm-up")
        await consumer.getone()  # warm-up: the group has joined
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


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--events", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="producer database (default: a SQLite file)")
    args = parser.parse_args()
    configure_logging("bench", "WARNING", json=False)  # per-event log lines would be timed too
    tansu = Tansu().start()
    ours, raw = [], []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for run in range(1, args.runs + 1):
                raw.append(await raw_path(tansu.bootstrap, args.events))
                ours.append(
                    await our_path(tansu.bootstrap, args.events, Path(workdir), args.database_url)
                )
                print(f"run {run}: raw aiokafka {raw[-1]:8.0f} events/s   "
                      f"outbox→relay→broker→inbox {ours[-1]:8.0f} events/s", flush=True)  # fmt: skip
    finally:
        tansu.stop()
    ours_median, raw_median = statistics.median(ours), statistics.median(raw)
    print(f"\nN={args.events}, median of {args.runs}:")
    print(f"  raw aiokafka produce/consume     {raw_median:8.0f} events/s")
    print(f"  our outbox → relay → inbox path  {ours_median:8.0f} events/s")
    print(f"  ratio ours / raw                 {ours_median / raw_median:8.3f}")


if __name__ == "__main__":
    asyncio.run(main())
