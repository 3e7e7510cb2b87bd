"""What the events API does: each function is one command in one unit of work.

Every command that changes an event's seats locks the event's row first (on SQLite the
write lock taken at BEGIN does the same), then counts. Two registrations for the last seat
take turns, and the second sees the first: nothing is ever overbooked.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Exists, ScalarSelect, and_, case, delete, func, select, update
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
    place,
    takes_registrations,
)
from services.events.policy import Policy
from services.events.tables import (
    Event,
    EventTimer,
    ProgrammeSession,
    Registration,
    SessionPerson,
    SessionSignup,
)
from shared.contracts.events import (
    AttendeeCheckedIn,
    AttendeeErased,
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
from shared.errors import Conflict, NotFound, RuleViolation
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


@dataclass(frozen=True)
class Tally:
    """What registering needs to know about an event, read in one query through the
    registrations' indexes: its cost does not grow with the length of the waitlist."""

    free: int
    anyone_waiting: bool
    offers_expired: bool
    already_registered: bool
    last_position: int


async def _tally(session: AsyncSession, event: Event, email: str, now: datetime) -> Tally:
    """Read after the event's row is locked, in a statement of its own: on PostgreSQL a
    statement that waited for the lock still sees what was there before it waited (a
    subquery next to the FOR UPDATE would count seats already taken as free)."""
    r = Registration

    def count(*where) -> ScalarSelect:  # type: ignore[no-untyped-def]
        return select(func.count()).where(r.event_id == event.id, *where).scalar_subquery()

    def exists(*where) -> Exists:  # type: ignore[no-untyped-def]
        return select(r.id).where(r.event_id == event.id, *where).exists()

    confirmed, held, waiting, expired, registered, last = (
        await session.execute(
            select(
                count(r.status == Status.CONFIRMED),
                count(r.status == Status.OFFERED, r.hold_expires_at > now),
                exists(r.status == Status.WAITLISTED),
                exists(r.status == Status.OFFERED, r.hold_expires_at <= now),
                exists(r.email == email, r.status.in_(ACTIVE)),
                select(func.max(r.position)).where(r.event_id == event.id).scalar_subquery(),
            )
        )
    ).one()
    return Tally(
        free=Seats(event.capacity, confirmed, held, 0).free,
        anyone_waiting=bool(waiting),
        offers_expired=bool(expired),
        already_registered=bool(registered),
        last_position=last or 0,
    )


async def register(
    uow: UnitOfWork, event_id: str, cmd: schemas.RegistrationCreate, policy: Policy
) -> Registration:
    """A seat if one is free and nobody is waiting; otherwise a place on the waitlist."""
    email = cmd.email.lower()
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        now = uow.now()
        takes_registrations(event.status, event.starts_at, now)
        tally = await _tally(uow.session, event, email, now)
        if tally.already_registered:
            raise Conflict("this e-mail address is already registered for the event")
        if tally.offers_expired or (tally.free and tally.anyone_waiting):
            await pass_on_seats(uow, event, policy)  # the line moves first
            await uow.session.flush()
            tally = await _tally(uow.session, event, email, now)
        status = place(tally.free, tally.anyone_waiting)
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
            position=tally.last_position + 1,
        )
        uow.session.add(registration)
        await _sign_up(uow, event, registration, cmd.session_ids)
        about = policy.about(registration, event)
        if status == Status.CONFIRMED:
            uow.publish(RegistrationConfirmed(**about), subject=event.id)
        else:
            uow.publish(RegistrationWaitlisted(**about), subject=event.id)
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


# --- programme ------------------------------------------------------------------------------


async def add_session(uow: UnitOfWork, event_id: str, cmd: schemas.SessionCreate) -> str:
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        if event.status in (EventStatus.COMPLETED, EventStatus.CANCELLED):
            raise Conflict(f"a {event.status} event's programme cannot be changed")
        end = event.ends_at or event.starts_at + timedelta(days=1)
        if cmd.starts_at < event.starts_at or cmd.ends_at > end:
            raise RuleViolation(
                "a session must lie within its event",
                errors=[{"field": "starts_at", "message": "must be within the event's times"}],
            )
        session = ProgrammeSession(
            id=new_id(), event_id=event.id, **cmd.model_dump(exclude={"people"})
        )
        uow.session.add(session)
        for position, person in enumerate(cmd.people):
            uow.session.add(
                SessionPerson(session_id=session.id, position=position, **person.model_dump())
            )
        await uow.commit()
    return session.id


async def programme(session: AsyncSession, event_id: str) -> list[schemas.SessionPublic]:
    """The event's sessions in time order, with who is on stage and how many signed up."""
    sessions = list(
        await session.scalars(
            select(ProgrammeSession)
            .where(ProgrammeSession.event_id == event_id)
            .order_by(ProgrammeSession.starts_at, ProgrammeSession.title)
        )
    )
    ids = [s.id for s in sessions]
    people: dict[str, list] = {i: [] for i in ids}
    for person in await session.scalars(
        select(SessionPerson)
        .where(SessionPerson.session_id.in_(ids))
        .order_by(SessionPerson.position)
    ):
        people[person.session_id].append(schemas.PersonPublic.model_validate(person))
    taken = await _signups(session, ids)
    return [
        schemas.SessionPublic(
            id=s.id,
            title=s.title,
            description=s.description,
            kind=s.kind,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            room=s.room,
            capacity=s.capacity,
            signed_up=taken.get(s.id, 0),
            people=people[s.id],
        )
        for s in sessions
    ]


async def _signups(session: AsyncSession, session_ids: list[str]) -> dict[str, int]:
    """Places taken in each session: the sign-ups of registrations still in the running."""
    rows = await session.execute(
        select(SessionSignup.session_id, func.count())
        .join(Registration, Registration.id == SessionSignup.registration_id)
        .where(SessionSignup.session_id.in_(session_ids), Registration.status.in_(ACTIVE))
        .group_by(SessionSignup.session_id)
    )
    return dict(rows.all())


async def _sign_up(
    uow: UnitOfWork, event: Event, registration: Registration, session_ids: list[str]
) -> None:
    """Sign a registration up for sessions of its event: each must exist, none may overlap
    another, and none may be full. Runs under the event's lock, like the seats."""
    if not session_ids:
        return
    chosen = list(
        await uow.session.scalars(
            select(ProgrammeSession).where(
                ProgrammeSession.event_id == event.id, ProgrammeSession.id.in_(set(session_ids))
            )
        )
    )
    if len(chosen) != len(set(session_ids)):
        raise RuleViolation(
            "a chosen session is not part of this event's programme",
            errors=[{"field": "session_ids", "message": "not a session of this event"}],
        )
    chosen.sort(key=lambda s: s.starts_at)
    for earlier, later in zip(chosen, chosen[1:], strict=False):
        if later.starts_at < earlier.ends_at:
            raise RuleViolation(
                f"the sessions {earlier.title!r} and {later.title!r} overlap",
                errors=[{"field": "session_ids", "message": "two chosen sessions overlap"}],
            )
    taken = await _signups(uow.session, [s.id for s in chosen])
    for s in chosen:
        if s.capacity is not None and taken.get(s.id, 0) >= s.capacity:
            raise Conflict(f"the session {s.title!r} is full")
        uow.session.add(SessionSignup(session_id=s.id, registration_id=registration.id))


# --- personal data ----------------------------------------------------------------------------


async def registrations_of(session: AsyncSession, email: str) -> list[tuple[Registration, Event]]:
    """Everything kept about a person (by their address), for them to see."""
    rows = await session.execute(
        select(Registration, Event)
        .join(Event, Event.id == Registration.event_id)
        .where(Registration.email == email.lower())
        .order_by(Registration.created_at, Registration.id)
    )
    return [(registration, event) for registration, event in rows]


async def erase_attendee(uow: UnitOfWork, email: str, policy: Policy) -> int:
    """Blank a person's name, address and organisation on each of their registrations. The
    registrations stay, with their status and times, so every count stays as it was."""
    async with uow:
        found = await registrations_of(uow.session, email)
        for registration, event in found:
            registration.name, registration.email, registration.organisation = "", "", None
            registration.erased_at = uow.now()
            uow.publish(AttendeeErased(**policy.about(registration, event)), subject=event.id)
        await uow.commit()
    return len(found)


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
