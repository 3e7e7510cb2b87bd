"""Seats: the one place where an event's seats are counted and passed on.

Every command that changes an event's seats locks the event's row first (on SQLite the
write lock taken at BEGIN does the same), then counts. Two registrations for the last seat
take turns, and the second sees the first: nothing is ever overbooked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.events.domain import (
    ACTIVE,
    EventStatus,
    RegistrationStatus,
    Seats,
)
from services.events.policy import Policy
from services.events.tables import (
    Event,
    Registration,
)
from shared.contracts.events import (
    RegistrationOffered,
    RegistrationOfferExpired,
)
from shared.errors import NotFound
from shared.uow import UnitOfWork

Status = RegistrationStatus


# --- the event's row ---------------------------------------------------------------------


async def get_event(session: AsyncSession, event_id: str, *, lock: bool = False) -> Event:
    event = await session.get(Event, event_id, with_for_update=lock, populate_existing=lock)
    if event is None:
        raise NotFound(f"no event with id {event_id}")
    return event


# --- seats ----------------------------------------------------------------------------------


async def seats_of(session: AsyncSession, events: Iterable[Event], now: datetime) -> dict:
    """Each event's seats, counted from its registrations in one query."""
    by_id = {event.id: event for event in events}
    if not by_id:
        return {}
    r = Registration
    held = and_(r.status == Status.OFFERED, r.hold_expires_at > now)
    rows = await session.execute(
        select(
            r.event_id,
            func.count(case((r.status == Status.CONFIRMED, 1))),
            func.count(case((held, 1))),
            func.count(case((r.status == Status.WAITLISTED, 1))),
        )
        .where(r.event_id.in_(by_id), r.status.in_(ACTIVE))
        .group_by(r.event_id)
    )
    counts = {event_id: (c, h, w) for event_id, c, h, w in rows}
    return {
        event_id: Seats(event.capacity, *counts.get(event_id, (0, 0, 0)))
        for event_id, event in by_id.items()
    }


async def pass_on_seats(uow: UnitOfWork, event: Event, policy: Policy) -> None:
    """Expired offers leave the line, and each free seat is offered to the next in line,
    held for the policy's time. The event's row must be locked."""
    now = uow.now()
    for registration in await uow.session.scalars(
        select(Registration).where(
            Registration.event_id == event.id,
            Registration.status == Status.OFFERED,
            Registration.hold_expires_at <= now,
        )
    ):
        registration.status = Status.EXPIRED
        uow.publish(RegistrationOfferExpired(**policy.about(registration, event)), subject=event.id)
    await uow.session.flush()
    if event.status != EventStatus.PUBLISHED or event.starts_at <= now:
        return
    seats = (await seats_of(uow.session, [event], now))[event.id]
    if not seats.offers_due():
        return
    hold_expires_at = now + policy.offer_hold
    for registration in await uow.session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status == Status.WAITLISTED)
        .order_by(Registration.position)
        .limit(seats.offers_due())
    ):
        registration.status = Status.OFFERED
        registration.offered_at = now
        registration.hold_expires_at = hold_expires_at
        uow.publish(
            RegistrationOffered(
                **policy.about(registration, event), hold_expires_at=hold_expires_at
            ),
            subject=event.id,
        )
