"""What the events API does: each function is one command in one unit of work.

Every command that changes an event's seats locks the event's row first (on SQLite the
write lock taken at BEGIN does the same), then counts. Two registrations for the last seat
take turns, and the second sees the first: nothing is ever overbooked.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import schemas
from services.events.domain import (
    ACTIVE,
    EventStatus,
    RegistrationStatus,
    Seats,
    can_accept,
    next_status,
    offer_expired,
    takes_registrations,
)
from services.events.policy import Policy
from services.events.tables import Event, EventTimer, Registration
from shared.contracts.events import (
    AttendeeCheckedIn,
    AttendeeTold,
    EventCancelled,
    EventCompleted,
    EventPublished,
    EventRescheduled,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationWaitlisted,
)
from shared.errors import Conflict, NotFound
from shared.uow import UnitOfWork

Status = RegistrationStatus


def new_id() -> str:
    return str(uuid.uuid4())


# --- events ---------------------------------------------------------------------------------


async def get_event(session: AsyncSession, event_id: str, *, lock: bool = False) -> Event:
    event = await session.get(Event, event_id, with_for_update=lock, populate_existing=lock)
    if event is None:
        raise NotFound(f"no event with id {event_id}")
    return event


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
    """The event's reminders and survey request, at its current times; those already due
    are not sent late (a reminder 7 days before, for an event published 2 days before)."""
    now = uow.now()
    await uow.session.execute(
        delete(EventTimer).where(EventTimer.event_id == event.id, EventTimer.fired_at.is_(None))
    )
    fired = set(
        await uow.session.scalars(select(EventTimer.kind).where(EventTimer.event_id == event.id))
    )
    for kind, due_at in policy.timers(event).items():
        if kind not in fired and due_at > now:
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
        event.status = next_status(event.status, command)
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


# --- registrations --------------------------------------------------------------------------


async def register(
    uow: UnitOfWork, event_id: str, cmd: schemas.RegistrationCreate, policy: Policy
) -> Registration:
    """A seat if one is free and nobody is waiting; otherwise a place on the waitlist."""
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        now = uow.now()
        takes_registrations(event.status, event.starts_at, now)
        email = cmd.email.lower()
        if await uow.session.scalar(
            select(Registration.id).where(
                Registration.event_id == event.id,
                Registration.email == email,
                Registration.status.in_(ACTIVE),
            )
        ):
            raise Conflict("this e-mail address is already registered for the event")
        await pass_on_seats(uow, event, policy)
        await uow.session.flush()
        seats = (await seats_of(uow.session, [event], now))[event.id]
        status = seats.place()
        last = await uow.session.scalar(
            select(func.max(Registration.position)).where(Registration.event_id == event.id)
        )
        registration = Registration(
            id=new_id(),
            event_id=event.id,
            name=cmd.name,
            email=email,
            organisation=cmd.organisation,
            language=cmd.language,
            consent_text=schemas.consent_text(cmd.language),
            consented_at=now,
            status=status,
            code=secrets.token_urlsafe(12),
            created_at=now,
            confirmed_at=now if status == Status.CONFIRMED else None,
            position=(last or 0) + 1,
        )
        uow.session.add(registration)
        ids = policy.about(registration, event)
        if status == Status.CONFIRMED:
            uow.publish(RegistrationConfirmed(**ids), subject=event.id)
        else:
            uow.publish(RegistrationWaitlisted(**ids), subject=event.id)
        await uow.commit()
    return registration


async def _locked_registration(uow: UnitOfWork, registration_id: str) -> tuple[Registration, Event]:
    """The registration and its event, the event's row locked (always event first: two
    commands on one event never wait for each other in opposite orders)."""
    registration = await uow.session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("no such registration")
    event = await get_event(uow.session, registration.event_id, lock=True)
    await uow.session.refresh(registration)
    return registration, event


async def cancel_registration(
    uow: UnitOfWork, registration_id: str, policy: Policy
) -> Registration:
    """Cancelling twice is cancelling once; a seat that comes free goes to the next in line."""
    async with uow:
        registration, event = await _locked_registration(uow, registration_id)
        previous = registration.status
        if previous not in ACTIVE:
            return registration
        registration.status = Status.CANCELLED
        registration.cancelled_at = uow.now()
        registration.hold_expires_at = None
        uow.publish(
            RegistrationCancelled(**policy.about(registration, event), previous_status=previous),
            subject=event.id,
        )
        await uow.session.flush()
        await pass_on_seats(uow, event, policy)
        await uow.commit()
    return registration


async def accept_offer(uow: UnitOfWork, registration_id: str, policy: Policy) -> Registration:
    async with uow:
        registration, event = await _locked_registration(uow, registration_id)
        now = uow.now()
        can_accept(registration.status, registration.hold_expires_at, now)
        if registration.status == Status.OFFERED:
            registration.status = Status.CONFIRMED
            registration.confirmed_at = now
            registration.hold_expires_at = None
            uow.publish(RegistrationPromoted(**policy.about(registration, event)), subject=event.id)
            await uow.commit()
    return registration


async def get_registration(session: AsyncSession, registration_id: str) -> Registration:
    registration = await session.get(Registration, registration_id)
    if registration is None:
        raise NotFound("no such registration")
    return registration


def shown_status(registration: Registration, now: datetime) -> str:
    """An offer whose time is up reads as expired before anything has tidied it up."""
    if offer_expired(registration.status, registration.hold_expires_at, now):
        return Status.EXPIRED
    return registration.status


# --- check-in -------------------------------------------------------------------------------


async def check_in(
    uow: UnitOfWork, event_id: str, scans: list[schemas.Scan], policy: Policy
) -> list[schemas.ScanResult]:
    """Record scans (live, or made offline and uploaded later with their own times). A code
    scanned again is one check-in, at the time of its first recorded scan."""
    results = []
    async with uow:
        await get_event(uow.session, event_id)
        for scan in scans:
            registration = await uow.session.scalar(
                select(Registration).where(
                    Registration.event_id == event_id, Registration.code == scan.code
                )
            )
            if registration is None:
                results.append(schemas.ScanResult(code=scan.code, result="unknown"))
                continue
            if registration.status != Status.CONFIRMED:
                results.append(
                    schemas.ScanResult(
                        code=scan.code, result="not_confirmed", name=registration.name
                    )
                )
                continue
            at = scan.scanned_at or uow.now()
            # one statement: a concurrent scan of the same code cannot also count as first
            first = await uow.session.execute(
                update(Registration)
                .where(Registration.id == registration.id, Registration.checked_in_at.is_(None))
                .values(checked_in_at=at)
                .execution_options(synchronize_session=False)
            )
            if first.rowcount:
                event = await get_event(uow.session, event_id)
                uow.publish(
                    AttendeeCheckedIn(**policy.about(registration, event), checked_in_at=at),
                    subject=event_id,
                )
            await uow.session.refresh(registration)
            results.append(
                schemas.ScanResult(
                    code=scan.code,
                    result="checked_in" if first.rowcount else "already_checked_in",
                    name=registration.name,
                    checked_in_at=registration.checked_in_at,
                )
            )
        await uow.commit()
    return results
