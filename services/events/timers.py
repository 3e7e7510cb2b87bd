"""Durable timer: offers from the waitlist that were not accepted in time pass on to the
next in line.

Nothing depends on it for correctness — an expired offer stops holding its seat the moment
it expires, in every count — but without it the line would move only at the next
registration or cancellation. The expiry times live in the registrations' rows, so the
timer survives restarts; with several replicas each event is claimed by one (SKIP LOCKED
on PostgreSQL, the write lock on SQLite).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from services.events.commands import pass_on_seats
from services.events.domain import RegistrationStatus
from services.events.settings import EventsSettings
from services.events.tables import Event, Registration
from shared.runtime import Runtime

BATCH = 50  # events per transaction


async def pass_on_expired_offers(runtime: Runtime[EventsSettings]) -> int:
    """Pass on the expired offers of up to BATCH events; how many events had some."""
    hold = timedelta(hours=runtime.settings.offer_hold_hours)
    async with runtime.uow() as uow:
        expired = (
            select(Registration.event_id)
            .where(
                Registration.status == RegistrationStatus.OFFERED,
                Registration.hold_expires_at <= uow.now(),
            )
            .distinct()
        )
        events = (
            await uow.session.scalars(
                select(Event)
                .where(Event.id.in_(expired))
                .order_by(Event.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for event in events:
            await pass_on_seats(uow, event, hold)
        await uow.commit()
    return len(events)


async def run_offer_timer(runtime: Runtime[EventsSettings]) -> None:
    while True:
        if await pass_on_expired_offers(runtime) < BATCH:
            await asyncio.sleep(runtime.settings.offer_check_interval_seconds)
