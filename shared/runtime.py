"""Everything one service process runs beside its HTTP routes.

Database (migrated at start), FastStream broker, outbox relay, event consumers and
background workers. The broker is connected in the background: the service starts,
serves HTTP and accepts writes while Kafka is still unreachable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import MetaData, Table, delete, text

from shared import topics
from shared.db import create_engine, create_sessions, migrate
from shared.idempotency import KEEP as IDEMPOTENCY_KEPT
from shared.logging import get_logger
from shared.messaging import (
    EventConsumer,
    RelayProducer,
    Subscription,
    create_broker,
    ensure_topics,
)
from shared.outbox import OutboxRelay
from shared.retry import retry_forever
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = get_logger(__name__)

S = TypeVar("S", bound=ServiceSettings)
Worker = Callable[["Runtime[Any]"], Awaitable[None]]


class Runtime(Generic[S]):
    """`Runtime[PlanningSettings]`: a worker or route sees its service's own settings."""

    def __init__(
        self,
        settings: S,
        *,
        name: str,
        metadata: MetaData,
        migrations_dir: Path,
        subscriptions: Sequence[Subscription] = (),
        workers: Sequence[Worker] = (),
        unit_of_work: type[UnitOfWork] = UnitOfWork,
    ) -> None:
        self.settings = settings
        self.unit_of_work = unit_of_work
        self.name = name
        self.source = f"/budskab/{name}"
        self.migrations_dir = migrations_dir
        self.metadata = metadata
        self.outbox: Table = metadata.tables["outbox"]
        self.inbox: Table = metadata.tables["inbox"]
        self.engine = create_engine(settings.database_url)
        self.sessions = create_sessions(self.engine)
        self.broker = create_broker(settings.kafka_bootstrap_servers, client_id=name)
        self.relay_producer = RelayProducer(settings.kafka_bootstrap_servers, client_id=name)
        self.broker_connected = asyncio.Event()
        self.relay = OutboxRelay(
            self.outbox,
            self.sessions,
            self.relay_producer.publish,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval_seconds,
            now=lambda: self.clock(),
        )
        self.subscriptions = list(subscriptions)
        self.consumers = [
            EventConsumer(
                subscription,
                self.broker,
                self.uow,
                max_attempts=settings.consumer_max_attempts,
                batch_size=settings.consumer_batch_size,
                batch_wait_ms=settings.consumer_batch_wait_ms,
                fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
                session_timeout_ms=settings.consumer_session_timeout_ms,
            )
            for subscription in self.subscriptions
        ]
        for consumer in self.consumers:
            consumer.register()
        self.workers = list(workers)
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # tests move time here
        self._tasks: list[asyncio.Task] = []

    def uow(self) -> UnitOfWork:
        return self.unit_of_work(
            self.sessions,
            outbox=self.outbox,
            inbox=self.inbox,
            source=self.source,
            on_events=self.relay.wake,
            clock=lambda: self.clock(),
        )

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await migrate(self.engine, self.migrations_dir)
        self._spawn(self._connect_then_relay(), "broker")
        self._spawn(self._supervised(_refresh_outbox_gauges), "outbox-gauges")
        self._spawn(self._supervised(_refresh_consumer_lag), "consumer-lag")
        self._spawn(self._supervised(_prune), "prune")
        for worker in self.workers:
            self._spawn(self._supervised(worker), worker.__name__)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.broker.stop()
        await self.relay_producer.stop()
        await self.engine.dispose()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"{self.name}:{name}"))

    async def _supervised(self, worker: Worker) -> None:
        """Run a background worker forever: if it fails (say, the database is away), log it
        and start it again after a backoff instead of letting it die unseen."""

        async def failed(_error: Exception, delay: float) -> None:
            log.exception(
                "background worker failed", worker=worker.__name__, retry_in=round(delay, 2)
            )

        await retry_forever(lambda: worker(self), on_failure=failed)

    async def _connect_then_relay(self) -> None:
        await retry_forever(self._connect, on_failure=self._not_connected, cap=10.0)
        log.info("broker connected", bootstrap=self.settings.kafka_bootstrap_servers)
        await self.relay.run()

    async def _connect(self) -> None:
        """Create the topics and start the broker and the relay's producer."""
        names = [*topics.ALL, *(s.dead_letter_topic for s in self.subscriptions)]
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            names,
            self.settings.topic_partitions,
            self.settings.topic_replication_factor,
        )
        await self.broker.start()
        await self.relay_producer.start()
        self.broker_connected.set()

    async def _not_connected(self, error: Exception, delay: float) -> None:
        log.warning("broker unreachable", error=repr(error), retry_in=round(delay, 2))
        await self.broker.stop()
        await self.relay_producer.stop()

    async def check_ready(self) -> dict[str, str]:
        """Status of each dependency: 'ok' or the reason it is not."""
        checks: dict[str, str] = {}
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {exc.__class__.__name__}"
        if not self.broker_connected.is_set():
            checks["broker"] = "not connected yet"
        else:
            checks["broker"] = "ok" if await self.broker.ping(timeout=2.0) else "unreachable"
        return checks


async def _refresh_outbox_gauges(runtime: Runtime) -> None:
    """The backlog gauges on their own clock, so they keep moving while the broker is down
    (which is when the outbox-age alert must fire)."""
    while True:
        await runtime.relay.refresh_gauges()
        await asyncio.sleep(5.0)


async def _refresh_consumer_lag(runtime: Runtime) -> None:
    while True:
        for consumer in runtime.consumers:
            await consumer.refresh_lag()
        await asyncio.sleep(15.0)


# How long bookkeeping rows are kept. Inbox rows must outlive any redelivery: keep them well
# beyond the topics' retention (Kafka's default is 7 days).
SENT_OUTBOX_KEPT = timedelta(days=7)
INBOX_KEPT = timedelta(days=30)


async def prune_bookkeeping(runtime: Runtime, now: datetime | None = None) -> None:
    """Delete sent outbox rows, old inbox rows and expired idempotency keys."""
    now = now or runtime.clock()
    outbox, inbox = runtime.outbox, runtime.inbox
    keys = runtime.metadata.tables["idempotency_keys"]
    async with runtime.sessions.begin() as session:
        await session.execute(delete(outbox).where(outbox.c.sent_at < now - SENT_OUTBOX_KEPT))
        await session.execute(delete(inbox).where(inbox.c.processed_at < now - INBOX_KEPT))
        await session.execute(delete(keys).where(keys.c.created_at < now - IDEMPOTENCY_KEPT))


async def _prune(runtime: Runtime) -> None:
    while True:
        await prune_bookkeeping(runtime)
        await asyncio.sleep(3600)
