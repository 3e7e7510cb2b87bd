"""Rebuild the metrics service's read models by replaying the event stream into an empty
database:  python -m services.metrics.rebuild sqlite+aiosqlite:///var/metrics-rebuilt.db

It reads every topic the service reads, from the beginning, with a consumer group of its
own (so the live service is not disturbed), through the very handlers the service runs;
it stops when it has caught up with the end of each partition as it was at the start, and
publishes nothing. Then point METRICS_DATABASE_URL at the new database. What is not in the
stream stays behind: surveys and their answers, reported measurements. The stream holds
what the topics' retention kept (`python -m scripts.topics` sets it).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import func, select

from services.metrics import handlers
from services.metrics.settings import MetricsSettings
from services.metrics.tables import Base, PlanCount
from shared.db import migrate
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).parent / "migrations"


async def end_offsets(bootstrap: str, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """Where each partition of the topics ends now (partitions with nothing left out)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {partition: end for partition, end in ends.items() if end > 0}


async def replayed(watcher: AIOKafkaConsumer, target: dict[TopicPartition, int]) -> int:
    """How many messages up to each partition's target end the group has committed (a
    consumer of the group that never joins it only reads its offsets)."""
    return sum([min(await watcher.committed(p) or 0, end) for p, end in target.items()])


async def rebuild(settings: MetricsSettings, *, report=print, timeout: float = 3600.0) -> int:  # type: ignore[no-untyped-def]
    """Replay the stream into `settings.database_url`; how many messages it read."""
    group = f"{settings.consumer_group}-rebuild-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"consumer_group": group})
    subscription = handlers.subscription(settings)
    runtime = Runtime(
        settings,
        name="metrics-rebuild",
        metadata=Base.metadata,
        migrations_dir=MIGRATIONS,
        subscriptions=[subscription],
    )
    bootstrap = settings.kafka_bootstrap_servers
    await migrate(runtime.engine, MIGRATIONS)
    async with runtime.sessions() as session:
        if await session.scalar(select(func.count()).select_from(PlanCount)):
            # a new consumer group's inbox knows nothing: replaying into a database that has
            # counted already would count everything twice
            raise SystemExit("the database is not empty: rebuild into a new one")
    target = await end_offsets(bootstrap, subscription.topics)
    total = sum(target.values())
    report(f"replaying {total} messages from {len(target)} partitions into the new database")
    await runtime.broker.start()  # the consumer only: no relay, no workers, nothing published
    watcher = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await watcher.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            read = await replayed(watcher, target)
            report(f"  {read} of {total} ({100 * read / max(total, 1):.0f} %)")
            if read >= total:
                return read
            if time.monotonic() > deadline:
                raise TimeoutError(f"replayed {read} of {total} messages in {timeout} s")
            await asyncio.sleep(1.0)
    finally:
        await watcher.stop()
        await runtime.broker.stop()
        await runtime.engine.dispose()


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    settings = MetricsSettings(database_url=sys.argv[1])
    asyncio.run(rebuild(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
