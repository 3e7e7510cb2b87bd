"""Transactional outbox: events are rows written with the state change; a relay publishes them.

The relay publishes the oldest unsent rows, in order, then marks them sent. Only one relay
per database publishes at a time (a transaction-scoped advisory lock on PostgreSQL; one
process per SQLite file), so the events of one aggregate reach Kafka in the order they were
written. Killed between publish and mark, the rows are simply published again: consumers'
inbox makes that second copy harmless. HTTP writes never wait for the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import orjson
from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    any_,
    bindparam,
    column,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import Envelope
from shared.db import UtcDateTime
from shared.logging import get_logger
from shared.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PUBLISH_FAILURES,
    OUTBOX_PUBLISHED,
)
from shared.retry import retry_forever

log = get_logger(__name__)

Outgoing = tuple[str, bytes, bytes, dict[str, str]]  # topic, key, value, headers
# sends the messages, in order per partition, and returns once the broker has all of them
Publish = Callable[[list[Outgoing]], Awaitable[None]]

RELAY_LOCK_ID = 7_204_513  # PostgreSQL advisory lock: the one relay of this database
_sqlite_relays: dict[str, asyncio.Lock] = {}  # one relay per SQLite file in this process
ROUNDS = 10  # rounds of `batch_size` one `publish_batch` runs (on PostgreSQL, in one transaction)


def outbox_table(metadata: MetaData) -> Table:
    table = Table(
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
        Column("sent_at", UtcDateTime, nullable=True, index=True),
        Column("last_error", Text, nullable=True),  # why the last publish failed, for operators
    )
    # The relay's query, oldest unsent first, by an index of the unsent rows alone: without it
    # each round reads every unsent row (or every sent one) to find the first thousand.
    unsent = table.c.sent_at.is_(None)
    Index("ix_outbox_unsent", table.c.position, postgresql_where=unsent, sqlite_where=unsent)
    return table


def outbox_row(envelope: Envelope, topic: str) -> dict[str, object]:
    return {
        "event_id": envelope.id,
        "topic": topic,
        "key": envelope.subject,
        "type": envelope.type,
        "payload": envelope.model_dump_json(),
        "headers": orjson.dumps(envelope.headers()).decode(),
        "created_at": envelope.time,
    }


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def _publish_failed(error: Exception, delay: float) -> None:
    OUTBOX_PUBLISH_FAILURES.inc()
    log.warning("outbox publish failed", error=repr(error), retry_in=round(delay, 2))


class OutboxRelay:
    def __init__(
        self,
        table: Table,
        sessions: async_sessionmaker,
        publish: Publish,
        *,
        batch_size: int = 3000,
        poll_interval: float = 0.1,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.table = table
        self.sessions = sessions
        self.publish = publish
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.now = now
        self._woken = asyncio.Event()
        url = sessions.kw["bind"].url
        self._postgres = url.get_backend_name() == "postgresql"
        self._sqlite_lock = _sqlite_relays.setdefault(str(url), asyncio.Lock())

    def wake(self) -> None:
        """Rows were just committed in this process: publish them now, not at the next poll."""
        self._woken.set()

    async def run(self) -> None:
        """Publish forever; back off (bounded, with jitter) while the broker is unreachable.
        Idle, it waits for `wake()` or, for rows other processes wrote, the poll interval."""
        while True:
            published = await retry_forever(self.publish_batch, on_failure=_publish_failed)
            if published < ROUNDS * self.batch_size:  # drained (or another relay is at it)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), self.poll_interval)
                self._woken.clear()

    async def publish_batch(self) -> int:
        """Publish the oldest unsent rows, up to `ROUNDS` rounds of `batch_size`, and mark them
        sent; return how many (0 if another relay is at it)."""
        try:
            if self._postgres:
                published, failure = await self._publish_holding_the_lock()
            else:
                async with self._sqlite_lock:
                    published, failure = await self._publish_rounds(
                        self._read_in_own_transaction, self._mark_in_own_transaction
                    )
            if failure is not None:
                raise failure
        except Exception as exc:
            await self._record_failure(repr(exc))
            raise
        return published

    async def _publish_holding_the_lock(self) -> tuple[int, Exception | None]:
        # One transaction around the rounds: other replicas skip while it runs; HTTP writes
        # only insert, so they never wait for it. A refused round ends it, and the rounds the
        # broker acknowledged before it stay marked. Killed or stopped midway, the transaction
        # rolls back and its rounds (up to ROUNDS × batch_size rows) go out again: copies the
        # consumers' inbox absorbs.
        async with self.sessions.begin() as session:
            if not await session.scalar(select(func.pg_try_advisory_xact_lock(RELAY_LOCK_ID))):
                return 0, None
            return await self._publish_rounds(
                lambda after: self._oldest_unsent(session, after),
                lambda rows: self._mark_sent(session, rows),
            )

    # SQLite's write lock would stop every HTTP write while the broker is slow: never hold a
    # transaction around a publish.
    async def _read_in_own_transaction(self, after: int | None) -> list:
        async with self.sessions.begin() as session:
            return await self._oldest_unsent(session, after)

    async def _mark_in_own_transaction(self, rows: list) -> None:
        async with self.sessions.begin() as session:
            await self._mark_sent(session, rows)

    async def _publish_rounds(
        self,
        read: Callable[[int | None], Awaitable[list]],
        mark: Callable[[list], Awaitable[None]],
    ) -> tuple[int, Exception | None]:
        """Publish rounds of rows, each handed to the broker only once the one before it was
        acknowledged (so they arrive in order). While a round is on its way, the one before is
        marked sent and the next one read: the database and the broker work at the same time.

        Returns how many rows were published and marked, and the broker's error if it refused
        a round (then nothing after that round is published)."""
        rows, published = await read(None), 0
        acknowledged: list = []
        for round_ in range(ROUNDS):
            if not rows:
                break
            sending = asyncio.ensure_future(self._publish(rows))
            try:
                if acknowledged:
                    await mark(acknowledged)
                    published += len(acknowledged)
                last = len(rows) < self.batch_size or round_ == ROUNDS - 1
                following = [] if last else await read(rows[-1].position)
            except asyncio.CancelledError:
                sending.cancel()  # shutting down: the producer's stop settles what it was handed
                await asyncio.gather(sending, return_exceptions=True)
                raise
            except Exception:
                await asyncio.gather(sending, return_exceptions=True)  # no late send overtakes
                raise  # the retry
            try:
                await sending
            except Exception as exc:
                return published, exc
            acknowledged, rows = rows, following
        if acknowledged:
            await mark(acknowledged)
            published += len(acknowledged)
        return published, None

    async def _oldest_unsent(self, session: AsyncSession, after: int | None = None) -> list:
        t = self.table
        query = (
            select(t.c.position, t.c.topic, t.c.key, t.c.payload, t.c.headers)
            .where(t.c.sent_at.is_(None))
            .order_by(t.c.position)
            .limit(self.batch_size)
        )
        if after is not None:  # past the round on its way, which is not marked sent yet
            query = query.where(t.c.position > after)
        return list((await session.execute(query)).all())

    async def _publish(self, rows: list) -> None:
        # orjson and plain tuples: the stdlib's json and Row attributes cost more per
        # message than building its record does
        encoded = [
            (topic, key.encode(), payload.encode(), orjson.loads(headers))
            for _, topic, key, payload, headers in rows
        ]
        await self.publish(encoded)
        OUTBOX_PUBLISHED.inc(len(rows))

    async def _mark_sent(self, session: AsyncSession, rows: list) -> None:
        if rows:
            positions = [r.position for r in rows]
            await session.execute(
                update(self.table)
                .where(self._is_one_of(positions))
                .values(sent_at=self.now(), last_error=None)
            )

    def _is_one_of(self, positions: list[int]) -> ColumnElement[bool]:
        # One array parameter, not a thousand: an expanding IN costs more to render and bind
        # than the update costs to run.
        position = self.table.c.position
        if self._postgres:
            return position == any_(bindparam("positions", positions, type_=ARRAY(Integer)))
        listed = func.json_each(bindparam("positions", orjson.dumps(positions).decode()))
        return position.in_(select(column("value")).select_from(listed))

    async def _record_failure(self, error: str) -> None:
        t = self.table
        first_unsent = select(func.min(t.c.position)).where(t.c.sent_at.is_(None)).scalar_subquery()
        async with self.sessions.begin() as session:
            await session.execute(
                update(t).where(t.c.position == first_unsent).values(last_error=error[:2000])
            )

    async def refresh_gauges(self) -> tuple[int, float]:
        """Backlog size and age of the oldest unsent row, also while the broker is down."""
        t = self.table
        async with self.sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(t.c.created_at)).where(t.c.sent_at.is_(None))
                )
            ).one()
        age = 0.0 if oldest is None else max(0.0, (self.now() - oldest).total_seconds())
        OUTBOX_BACKLOG.set(count)
        OUTBOX_OLDEST_AGE.set(age)
        return count, age
