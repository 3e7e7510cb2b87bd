"""Rebuild the metrics service's read models by replaying the event stream into an empty
database:

    python -m services.metrics.rebuild <new-database-url> [--from <live-database-url>]

It reads every topic the service reads, from the beginning, with a consumer group of its
own (so the live service is not disturbed), through the very handlers the service runs;
it stops when it has caught up with the end of each partition as it was at the start, and
publishes nothing. What the stream does not hold — surveys, their links and answers, and
the goals' measurements (reported ones, and the history of what was published) — is copied
first from the database `--from` names (what is written there after the copy stays behind).
Then point METRICS_DATABASE_URL at the new database.
The stream holds what the topics' retention kept (`python -m scripts.topics` sets it).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics import handlers
from services.metrics.settings import MetricsSettings
from services.metrics.tables import (
    Base,
    KpiMeasurement,
    PlanCount,
    Survey,
    SurveyInvitee,
    SurveyLinkUse,
    SurveyResponse,
)
from shared.db import create_engine, is_sqlite, migrate
from shared.runtime import Runtime

MIGRATIONS = Path(__file__).parent / "migrations"
# what the stream does not hold: made through the API, or published by this service
NOT_IN_THE_STREAM = [Survey, SurveyInvitee, SurveyLinkUse, SurveyResponse, KpiMeasurement]
ROWS_PER_COPY = 1000


async def copy_from(live_url: str, engine: AsyncEngine, report=print) -> None:  # type: ignore[no-untyped-def]
    """The tables the stream does not hold, copied from the live database in their order.
    An autoincrement `position` is left to the new database (copied, PostgreSQL's sequence
    would not know it): the order is kept by inserting in it."""
    live = create_engine(live_url)
    if not is_sqlite(live_url):  # PostgreSQL: every table as of one moment
        live = live.execution_options(isolation_level="REPEATABLE READ")
    try:
        async with live.connect() as source, engine.begin() as target:
            for model in NOT_IN_THE_STREAM:
                table: Table = model.__table__  # type: ignore[assignment]
                kept = [c for c in table.columns if c.name != "position"]
                order = [table.c.position] if "position" in table.c else table.primary_key.columns
                rows = await source.stream(select(*kept).order_by(*order))
                copied = 0
                async for chunk in rows.mappings().partitions(ROWS_PER_COPY):
                    await target.execute(insert(table), [dict(row) for row in chunk])
                    copied += len(chunk)
                report(f"copied {copied} rows of {table.name}")
    finally:
        await live.dispose()


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


async def rebuild(  # type: ignore[no-untyped-def]
    settings: MetricsSettings,
    *,
    copy_from_url: str | None = None,
    report=print,
    timeout: float = 3600.0,
) -> int:
    """Replay the stream into `settings.database_url`, after copying what the stream does not
    hold from `copy_from_url`; how many messages it read."""
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
        counted = [
            await session.scalar(select(func.count()).select_from(table))
            for table in [PlanCount, *NOT_IN_THE_STREAM]
        ]
        if any(counted):
            # a new consumer group's inbox knows nothing: replaying into a database that has
            # counted already would count everything twice
            raise SystemExit("the database is not empty: rebuild into a new one")
    if copy_from_url is not None:
        await copy_from(copy_from_url, runtime.engine, report)
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("database_url", help="the new, empty database")
    parser.add_argument(
        "--from",
        dest="live_url",
        help="the live database: surveys, answers and measurements are copied from it"
        " (without it — the live one lost — only what the stream holds is rebuilt)",
    )
    args = parser.parse_args()
    if args.live_url is None:
        print("no --from: surveys, their answers and the goals' measurements are not rebuilt")
    settings = MetricsSettings(database_url=args.database_url)
    asyncio.run(rebuild(settings, copy_from_url=args.live_url))


if __name__ == "__main__":
    main()
