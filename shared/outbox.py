"""Transactional outbox: events are rows written with the state change; a relay publishes them.

The relay claims a batch with a short lease (row locks + SKIP LOCKED on PostgreSQL, so
replicas never take the same rows), publishes it, then marks it sent. Killed between
publish and mark, the lease runs out and the batch is published again: consumers' inbox
makes that second copy harmless. Nothing is held open while the broker is slow or down.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import async_sessionmaker

from shared.contracts import Envelope
from shared.db import UtcDateTime
from shared.logging import get_logger
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)

log = get_logger(__name__)

# (topic, key, value, headers) -> awaitable that completes once the broker has the message
Publish = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[object]]


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("position", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("headers", Text, nullable=False),
        Column("created_at", UtcDateTime, nullable=False),
        Column("claimed_until", UtcDateTime, nullable=True),
        Column("sent_at", UtcDateTime, nullable=True, index=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )


def outbox_row(envelope: Envelope, topic: str) -> dict[str, object]:
    return {
        "event_id": envelope.id,
        "topic": topic,
        "key": envelope.subject,
        "type": envelope.type,
        "payload": envelope.model_dump_json(),
        "headers": json.dumps(envelope.headers()),
        "created_at": envelope.time,
        "attempts": 0,
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OutboxRelay:
    def __init__(
        self,
        table: Table,
        sessions: async_sessionmaker,
        publish: Publish,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.2,
        lease_seconds: float = 30.0,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.table = table
        self.sessions = sessions
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.lease = timedelta(seconds=lease_seconds)
        self.now = now
        self._gauges_refreshed = 0.0

    async def run(self) -> None:
        """Publish forever; back off (bounded, with jitter) while the broker is unreachable."""
        failures = 0
        while True:
            try:
                published = await self.publish_batch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                OUTBOX_PUBLISH_FAILURES.inc()
                delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * random.uniform(0.5, 1.0)
                log.warning("outbox publish failed", error=repr(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if published < self.batch_size:
                await asyncio.sleep(self.poll_interval)

    async def publish_batch(self) -> int:
        rows = await self._claim()
        if not rows:
            await self._refresh_gauges_now_and_then()
            return 0
        try:
            pending = [
                self.publish(r.topic, r.key.encode(), r.payload.encode(), json.loads(r.headers))
                for r in rows
            ]
            await asyncio.gather(*pending)
        except Exception as exc:
            await self._record_failure([r.position for r in rows], repr(exc))
            raise
        await self._mark_sent([r.position for r in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        await self._refresh_gauges_now_and_then()
        return len(rows)

    async def _claim(self) -> list:
        t, now = self.table, self.now()
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(t.c.position, t.c.topic, t.c.key, t.c.payload, t.c.headers)
                    .where(t.c.sent_at.is_(None))
                    .where(or_(t.c.claimed_until.is_(None), t.c.claimed_until < now))
                    .order_by(t.c.position)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await session.execute(
                    update(t)
                    .where(t.c.position.in_([r.position for r in rows]))
                    .values(claimed_until=now + self.lease, attempts=t.c.attempts + 1)
                )
        return list(rows)

    async def _mark_sent(self, positions: list[int]) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(self.table)
                .where(self.table.c.position.in_(positions))
                .values(sent_at=self.now(), claimed_until=None, last_error=None)
            )

    async def _record_failure(self, positions: list[int], error: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(self.table)
                .where(self.table.c.position.in_(positions))
                .values(claimed_until=None, last_error=error[:2000])
            )

    async def _refresh_gauges_now_and_then(self) -> None:
        """At most once a second: the count is a query, and scrapes come every 15 s or so."""
        if time.monotonic() - self._gauges_refreshed >= 1.0:
            await self.refresh_gauges()

    async def refresh_gauges(self) -> tuple[int, float]:
        self._gauges_refreshed = time.monotonic()
        t = self.table
        async with self.sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(t.c.created_at)).where(t.c.sent_at.is_(None))
                )
            ).one()
        age = 0.0
        if oldest is not None:
            age = max(0.0, (self.now() - oldest).total_seconds())
        OUTBOX_BACKLOG.set(count)
        OUTBOX_OLDEST_AGE.set(age)
        return count, age
