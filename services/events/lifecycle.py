"""An event's life: set up, changed, published, moved, cancelled, held — each function one
command in one unit of work."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import schemas
from services.events.domain import (
    ACTIVE,
    EventStatus,
    RegistrationStatus,
    next_status,
)
from services.events.policy import Policy
from services.events.seats import get_event, pass_on_seats
from services.events.tables import (
    Event,
    EventTimer,
    Registration,
)
from shared.contracts.events import (
    AttendeeTold,
    EventCancelled,
    EventCompleted,
    EventPublished,
    EventRescheduled,
)
from shared.errors import Conflict
from shared.ids import new_id
from shared.uow import UnitOfWork

Status = RegistrationStatus


async def create_event(uow: UnitOfWork, cmd: schemas.EventCreate) -> Event:
    async with uow:
        event = Event(
            id=new_id(), status=EventStatus.DRAFT, created_at=uow.now(), **cmd.model_dump()
        )
        uow.session.add(event)
        await uow.commit()
    return event


async def update_event(
    uow: UnitOfWork, event_id: str, cmd: schemas.EventUpdate, policy: Policy
) -> Event:
    """Change an event's details; a published event that moves tells everyone registered
    or waiting, and its reminders move with it."""
    given = cmd.model_dump(include=cmd.model_fields_set, exclude={"reason"})
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        if event.status in (EventStatus.COMPLETED, EventStatus.CANCELLED):
            raise Conflict(f"a {event.status} event cannot be changed")
        previous_start = event.starts_at
        for name, value in given.items():
            setattr(event, name, value)
        schemas.check_times(event.starts_at, event.ends_at)
        if event.starts_at != previous_start and event.status == EventStatus.PUBLISHED:
            await reschedule(uow, event, previous_start, cmd.reason or "", policy)
        if "capacity" in given:
            await pass_on_seats(uow, event, policy)  # more seats: the line moves up
        await uow.commit()
    return event


async def reschedule(
    uow: UnitOfWork, event: Event, previous_start: datetime, reason: str, policy: Policy
) -> None:
    """The event has moved (here, or with its activity in planning): say so, tell each
    person registered or waiting, and set its reminders again."""
    uow.publish(
        EventRescheduled(
            event_id=event.id,
            activity_id=event.activity_id,
            plan_id=event.plan_id,
            previous_starts_at=previous_start,
            starts_at=event.starts_at,
            reason=reason,
        ),
        subject=event.id,
    )
    await _tell_everyone(uow, event, policy, "rescheduled", reason, previous_start)
    if event.status == EventStatus.PUBLISHED:
        await _set_timers(uow, event, policy)


async def cancel(uow: UnitOfWork, event: Event, reason: str, policy: Policy) -> None:
    """The event is off (here, or with its activity): say so, tell each person registered
    or waiting; its reminders will not go out."""
    event.status = next_status(event.status, "cancel")
    uow.publish(
        EventCancelled(
            event_id=event.id, activity_id=event.activity_id, plan_id=event.plan_id, reason=reason
        ),
        subject=event.id,
    )
    await _tell_everyone(uow, event, policy, "cancelled", reason)
    await uow.session.execute(
        delete(EventTimer).where(EventTimer.event_id == event.id, EventTimer.fired_at.is_(None))
    )


async def _tell_everyone(
    uow: UnitOfWork,
    event: Event,
    policy: Policy,
    change: str,
    reason: str,
    previous_start: datetime | None = None,
) -> None:
    for registration in await uow.session.scalars(
        select(Registration)
        .where(Registration.event_id == event.id, Registration.status.in_(ACTIVE))
        .order_by(Registration.position)
    ):
        uow.publish(
            AttendeeTold(
                **policy.about(registration, event),
                change=change,
                previous_starts_at=previous_start,
                reason=reason,
            ),
            subject=event.id,
        )


async def _set_timers(uow: UnitOfWork, event: Event, policy: Policy) -> None:
    """The event's reminders and survey request at its current times (a moved event is
    reminded of again); those already due are not sent late (a reminder 7 days before,
    for an event published 2 days before)."""
    now = uow.now()
    await uow.session.execute(delete(EventTimer).where(EventTimer.event_id == event.id))
    for kind, due_at in policy.timers(event).items():
        if due_at > now:
            uow.session.add(EventTimer(event_id=event.id, kind=kind, due_at=due_at))


async def change_status(
    uow: UnitOfWork, event_id: str, command: str, policy: Policy, reason: str = ""
) -> Event:
    """publish, complete or cancel an event."""
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        if command == "cancel":
            await cancel(uow, event, reason, policy)
            await uow.commit()
            return event
        event.status = next_status(event.status, command, event.starts_at, uow.now())
        if command == "publish":
            uow.publish(
                EventPublished(
                    event_id=event.id,
                    activity_id=event.activity_id,
                    plan_id=event.plan_id,
                    title=event.title,
                    format=event.format,
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    capacity=event.capacity,
                    language=event.language,
                ),
                subject=event.id,
            )
            await _set_timers(uow, event, policy)
        else:
            confirmed, checked_in = await _attendance(uow.session, event.id)
            uow.publish(
                EventCompleted(
                    event_id=event.id,
                    activity_id=event.activity_id,
                    plan_id=event.plan_id,
                    confirmed=confirmed,
                    checked_in=checked_in,
                ),
                subject=event.id,
            )
        await uow.commit()
    return event


async def _attendance(session: AsyncSession, event_id: str) -> tuple[int, int]:
    confirmed, checked_in = (
        await session.execute(
            select(func.count(), func.count(Registration.checked_in_at)).where(
                Registration.event_id == event_id, Registration.status == Status.CONFIRMED
            )
        )
    ).one()
    return confirmed, checked_in
