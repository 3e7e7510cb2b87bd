"""A person's registration: a seat or the waitlist, cancelled, an offered seat accepted,
checked in at the door; and what is kept about them, exported or erased."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BindParameter, Exists, ScalarSelect, Select, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import schemas
from services.events.domain import (
    ACTIVE,
    RegistrationStatus,
    Seats,
    can_accept,
    offer_expired,
    place,
    takes_registrations,
)
from services.events.policy import Policy
from services.events.programme import sessions_to_join, sign_up
from services.events.seats import get_event, pass_on_seats
from services.events.tables import (
    Event,
    Invitation,
    Registration,
)
from shared.contracts.events import (
    AttendeeCheckedIn,
    AttendeeErased,
    InviteeErased,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationPromoted,
    RegistrationRepeated,
    RegistrationWaitlisted,
)
from shared.db import UtcDateTime, changed_rows
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.ids import new_id
from shared.logging import correlation
from shared.uow import UnitOfWork

Status = RegistrationStatus


@dataclass
class Tally:
    """What registering needs to know about an event, read once for a group of registrations
    (counts through the registrations' indexes: their cost does not grow with the waitlist)
    and kept up to date as each of the group is added."""

    free: int
    anyone_waiting: bool
    last_position: int
    registered: dict[str, str]  # each address of the group that holds a seat or a place → its id

    def took(self, registration: Registration) -> None:
        if registration.status == Status.CONFIRMED:
            self.free -= 1
        else:
            self.anyone_waiting = True
        self.last_position = registration.position
        self.registered[registration.email] = registration.id


def _tally_statement() -> Select:
    """Built once: registering is the hottest path there is, and a statement built anew
    each time costs more than running it."""
    r = Registration
    event_id: BindParameter[str] = bindparam("event_id")
    now = bindparam("now", type_=UtcDateTime)

    def count(*where) -> ScalarSelect:  # type: ignore[no-untyped-def]
        return select(func.count()).where(r.event_id == event_id, *where).scalar_subquery()

    def exists(*where) -> Exists:  # type: ignore[no-untyped-def]
        return select(r.id).where(r.event_id == event_id, *where).exists()

    return select(
        count(r.status == Status.CONFIRMED),
        count(r.status == Status.OFFERED, r.hold_expires_at > now),
        exists(r.status == Status.WAITLISTED),
        exists(r.status == Status.OFFERED, r.hold_expires_at <= now),
        select(func.max(r.position)).where(r.event_id == event_id).scalar_subquery(),
    )


TALLY = _tally_statement()
REGISTERED = select(Registration.email, Registration.id).where(
    Registration.event_id == bindparam("event_id"),
    Registration.email.in_(bindparam("emails", expanding=True)),
    Registration.status.in_(ACTIVE),
)


async def tally(uow: UnitOfWork, event: Event, emails: list[str], policy: Policy) -> Tally:
    """The line as it is, once it has moved: expired offers leave it and free seats are
    offered to those waiting before anyone new joins. Read after the event's row is locked,
    in statements of their own: on PostgreSQL a statement that waited for the lock still
    sees what was there before it waited (a subquery next to the FOR UPDATE would count
    seats already taken as free)."""
    params = {"event_id": event.id, "now": uow.now()}
    confirmed, held, waiting, expired, last = (await uow.session.execute(TALLY, params)).one()
    if expired or (Seats(event.capacity, confirmed, held, 0).free and waiting):
        await pass_on_seats(uow, event, policy)
        await uow.session.flush()
        # counted once more, not until the line is still: once the event has started no
        # seat is offered, and a seat left free with people waiting goes to none of the new
        confirmed, held, waiting, _, last = (await uow.session.execute(TALLY, params)).one()
    registered = await uow.session.execute(REGISTERED, {"event_id": event.id, "emails": emails})
    return Tally(
        free=Seats(event.capacity, confirmed, held, 0).free,
        anyone_waiting=bool(waiting),
        last_position=last or 0,
        registered={email: id_ for email, id_ in registered},
    )


class AlreadyRegistered(Conflict):
    def __init__(self, registration_id: str) -> None:
        super().__init__("this e-mail address is already registered for the event")
        self.registration_id = registration_id


@dataclass(frozen=True)
class Asked:
    """A registration asked for, with the correlation id of the request that asked: the
    events it causes carry it, though it is taken in a group with others."""

    cmd: schemas.RegistrationCreate
    correlation_id: str


async def register(
    uow: UnitOfWork, event_id: str, group: Sequence[Asked], policy: Policy
) -> list[DomainError | None]:
    """A group of registrations for one event, taken in one transaction: a seat for each
    while one is free and nobody is waiting; then places on the waitlist, in the group's
    order. An event by invitation takes registrations only through its invitations
    (`rsvp`); an event that takes none refuses the whole group (raised).

    Each outcome is None or what refused that registration alone (a full session, say).
    None also for an address already registered: it is sent its link again, and the caller
    cannot tell that apart from a new registration (else registering would tell anyone
    whether someone else has); registrants learn the outcome from their e-mail."""
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        if event.invitation_only:
            raise Forbidden("this event is by invitation: answer through your invitation's link")
        takes_registrations(event.status, event.starts_at, uow.now())
        line = await tally(uow, event, [asked.cmd.email.lower() for asked in group], policy)
        outcomes: list[DomainError | None] = []
        for asked in group:
            with correlation(asked.correlation_id):
                try:
                    await add_registration(uow, event, asked.cmd, policy, line)
                except AlreadyRegistered as known:
                    registration = await get_registration(uow.session, known.registration_id)
                    uow.publish(
                        RegistrationRepeated(**policy.about(registration, event)), subject=event.id
                    )
                    outcomes.append(None)
                except DomainError as refused:  # raised before it wrote anything
                    outcomes.append(refused)
                else:
                    outcomes.append(None)
        await uow.commit()
    return outcomes


async def add_registration(
    uow: UnitOfWork,
    event: Event,
    cmd: schemas.RegistrationCreate,
    policy: Policy,
    line: Tally,
) -> Registration:
    """Registration itself, in the caller's unit of work; the event's row is locked, found
    to take registrations, and `line` read under the lock (see `tally`). A refusal is raised
    before anything is written."""
    email = cmd.email.lower()
    now = uow.now()
    # a known address is checked as a new one would be: a full session is refused alike
    sessions = await sessions_to_join(uow, event, cmd.session_ids)
    if email in line.registered:
        raise AlreadyRegistered(line.registered[email])
    status = place(line.free, line.anyone_waiting)
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
        position=line.last_position + 1,
    )
    uow.session.add(registration)
    sign_up(uow, registration, sessions)
    line.took(registration)
    about = policy.about(registration, event)
    if status == Status.CONFIRMED:
        uow.publish(RegistrationConfirmed(**about), subject=event.id)
    else:
        uow.publish(RegistrationWaitlisted(**about), subject=event.id)
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
        await withdraw(uow, registration, event, policy)
        await uow.commit()
    return registration


async def withdraw(
    uow: UnitOfWork, registration: Registration, event: Event, policy: Policy
) -> None:
    previous = registration.status
    if previous not in ACTIVE:
        return
    registration.status = Status.CANCELLED
    registration.cancelled_at = uow.now()
    registration.hold_expires_at = None
    uow.publish(
        RegistrationCancelled(**policy.about(registration, event), previous_status=previous),
        subject=event.id,
    )
    await uow.session.flush()
    await pass_on_seats(uow, event, policy)


async def accept_offer(uow: UnitOfWork, registration_id: str, policy: Policy) -> Registration:
    async with uow:
        registration, event = await _locked_registration(uow, registration_id)
        now = uow.now()
        can_accept(event.status, registration.status, registration.hold_expires_at, now)
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
    """Blank a person's name, address and organisation on each of their registrations and
    invitations. The registrations stay, with their status and times, so every count stays
    as it was — but a place in line they can no longer be told about is given up."""
    async with uow:
        erased = await erase_in(uow, email, policy)
        await uow.commit()
    return erased


async def erase_in(uow: UnitOfWork, email: str, policy: Policy) -> int:
    """`erase_attendee` within a unit of work already open (a consumer's)."""
    found = await registrations_of(uow.session, email)
    for event_id in sorted({event.id for _, event in found}):
        await get_event(uow.session, event_id, lock=True)  # as every seat change does
    for registration, event in found:
        registration.name, registration.email, registration.organisation = "", "", None
        registration.erased_at = uow.now()
        uow.publish(AttendeeErased(**policy.about(registration, event)), subject=event.id)
        if registration.status in (Status.WAITLISTED, Status.OFFERED):
            await withdraw(uow, registration, event, policy)
    for invitation in await uow.session.scalars(
        select(Invitation).where(Invitation.email == email.lower())
    ):
        invitation.name, invitation.email = "", f"erased:{invitation.id}"
        uow.publish(
            InviteeErased(invitation_id=invitation.id, event_id=invitation.event_id),
            subject=invitation.event_id,
        )
    return len(found)


async def addresses_with_hash(session: AsyncSession, email_hash: str) -> list[str]:
    """The addresses kept here whose SHA-256 is `email_hash` (as another service names a
    person it has erased without repeating their address)."""
    emails = set(await session.scalars(select(Registration.email).distinct()))
    emails |= set(await session.scalars(select(Invitation.email).distinct()))
    return [
        e
        for e in emails
        if e and hashlib.sha256(e.strip().lower().encode()).hexdigest() == email_hash
    ]


# --- check-in -------------------------------------------------------------------------------


async def check_in(
    uow: UnitOfWork, event_id: str, scans: list[schemas.Scan], policy: Policy
) -> list[schemas.ScanResult]:
    """Record scans (live, or made offline and uploaded later with their own times). A code
    scanned again is one check-in, at the time of its first recorded scan."""
    results = []
    async with uow:
        event = await get_event(uow.session, event_id)
        by_code = {
            r.code: r
            for r in await uow.session.scalars(
                select(Registration).where(
                    Registration.event_id == event_id,
                    Registration.code.in_({scan.code for scan in scans}),
                )
            )
        }  # one query for the whole batch: an offline upload may hold a thousand scans
        for scan in scans:
            registration = by_code.get(scan.code)
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
            first = await changed_rows(
                uow.session,
                update(Registration)
                .where(Registration.id == registration.id, Registration.checked_in_at.is_(None))
                .values(checked_in_at=at)
                .execution_options(synchronize_session=False),
            )
            if first:
                uow.publish(
                    AttendeeCheckedIn(**policy.about(registration, event), checked_in_at=at),
                    subject=event_id,
                )
            await uow.session.refresh(registration)
            results.append(
                schemas.ScanResult(
                    code=scan.code,
                    result="checked_in" if first else "already_checked_in",
                    name=registration.name,
                    checked_in_at=registration.checked_in_at,
                )
            )
        await uow.commit()
    return results
