"""Unit of work: one database transaction holding the state change and the events it causes."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.contracts import Envelope, EventData, new_envelope
from shared.logging import current_correlation_id
from shared.outbox import outbox_row


class UnitOfWork:
    """`async with uow:` → work on `uow.session`, `uow.publish(...)` events, `await uow.commit()`.

    Leaving the block without commit rolls everything back, events included.
    """

    session: AsyncSession

    def __init__(
        self, sessions: async_sessionmaker, *, outbox: Table, inbox: Table, source: str
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self.source = source

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        self._rows: list[dict[str, object]] = []
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
            data, source=self.source, subject=subject, correlation_id=current_correlation_id()
        )
        self._rows.append(outbox_row(envelope, data.topic))
        return envelope

    async def claim_inbox(self, consumer_group: str, envelope: Envelope) -> bool:
        """Record the event as processed by this group; False if it already was."""
        try:
            await self.session.execute(
                insert(self._inbox).values(
                    consumer_group=consumer_group,
                    event_id=envelope.id,
                    event_type=envelope.type,
                    processed_at=datetime.now(UTC),
                )
            )
        except IntegrityError:
            return False  # the transaction is spoilt: the caller leaves it, nothing commits
        return True

    async def commit(self) -> None:
        await self.session.flush()
        if self._rows:
            await self.session.execute(insert(self._outbox), self._rows)
        await self.session.commit()
