"""Unit of work: one database transaction holding the state change and the events it causes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import inbox
from shared.contracts import Envelope, EventData, new_envelope
from shared.logging import current_correlation_id
from shared.outbox import outbox_row


class Pending(Protocol):
    """Writes gathered over a unit of work, made at its commit (see UnitOfWork.pending)."""

    async def write(self, uow: UnitOfWork) -> None: ...


P = TypeVar("P", bound=Pending)


class UnitOfWork:
    """`async with uow:` → work on `uow.session`, `uow.publish(...)` events, `await uow.commit()`.

    Leaving the block without commit rolls everything back, events included.
    """

    session: AsyncSession

    def __init__(
        self,
        sessions: async_sessionmaker,
        *,
        outbox: Table,
        inbox: Table,
        source: str,
        on_events: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._on_events = on_events
        self.now = clock  # the time of this service (tests move it)
        self._outbox = outbox
        self._inbox = inbox
        self.source = source

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        self._rows: list[dict[str, object]] = []
        self._pending: dict[type, Pending] = {}
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.session.close()  # rolls back whatever was not committed

    def publish(self, data: EventData, *, subject: str) -> Envelope:
        """Record an event; it reaches Kafka only if this unit of work commits."""
        envelope = new_envelope(
            data,
            source=self.source,
            subject=subject,
            correlation_id=current_correlation_id(),
            time=self.now(),
        )
        self._rows.append(outbox_row(envelope, data.topic))
        return envelope

    async def claim_inbox(self, consumer_group: str, envelopes: Sequence[Envelope]) -> set[str]:
        """Record the events as processed by this group, in one statement; the ids of those
        that were not already (the rest are duplicates, to be skipped)."""
        if not envelopes:
            return set()
        events = [(e.id, e.type) for e in envelopes]
        dialect = self.session.get_bind().dialect.name
        claimed = await self.session.execute(
            inbox.claim(dialect, consumer_group, events, self.now())
        )
        return set(claimed.scalars().all())

    def pending(self, kind: type[P]) -> P:
        """This unit of work's one `kind()`, made on first use and written just before the
        commit: the handlers of a batch add to it (a count, say) and it costs one write for
        all of them, not one each. Rolled back with everything else."""
        if kind not in self._pending:
            self._pending[kind] = kind()
        return self._pending[kind]  # type: ignore[return-value]

    async def commit(self) -> None:
        for gathered in self._pending.values():
            await gathered.write(self)
        self._pending.clear()
        await self.session.flush()
        if self._rows:
            await self.session.execute(insert(self._outbox), self._rows)
        await self.session.commit()
        if self._rows:
            self._on_events()  # e.g. wake the relay: the events go out now, not at its next poll
