"""Read models of the events service: events with their seats, invitations, registrations,
the attendance list, a person's records, and what the public pages may show."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import registrations, schemas, seats
from services.events.domain import EventStatus, RegistrationStatus
from services.events.tables import Event, Invitation, Registration
from shared.downloads import ROWS_PER_READ, ReadAfter
from shared.errors import NotFound
from shared.pagination import Page, fetch_page, page_of
from shared.spreadsheets import spreadsheet_text

# what the public pages and the calendar feed show; a draft is the organiser's alone
PUBLIC = (EventStatus.PUBLISHED, EventStatus.COMPLETED, EventStatus.CANCELLED)


async def _with_seats(
    session: AsyncSession, events: list[Event], now: datetime
) -> list[schemas.EventPublic]:
    counted = await seats.seats_of(session, events, now)
    return [
        schemas.EventPublic.model_validate(event).model_copy(
            update={"seats": schemas.SeatsPublic.model_validate(counted[event.id])}
        )
        for event in events
    ]


async def events_page(
    session: AsyncSession, now: datetime, *, plan_id: str | None, limit: int, offset: int
) -> Page[schemas.EventPublic]:
    query = select(Event).order_by(Event.starts_at, Event.id)
    if plan_id is not None:
        query = query.where(Event.plan_id == plan_id)
    events, total = await fetch_page(session, query, limit=limit, offset=offset)
    items = await _with_seats(session, events, now)
    return Page[schemas.EventPublic](items=items, total=total, limit=limit, offset=offset)


async def event(session: AsyncSession, event_id: str, now: datetime) -> schemas.EventPublic:
    return (await _with_seats(session, [await seats.get_event(session, event_id)], now))[0]


async def public_event(session: AsyncSession, event_id: str) -> Event:
    """An event the public may see (a draft is not found)."""
    found = await session.get(Event, event_id)
    if found is None or found.status not in PUBLIC:
        raise NotFound("no such event")
    return found


async def public_events(session: AsyncSession) -> list[Event]:
    return list(
        await session.scalars(
            select(Event).where(Event.status.in_(PUBLIC)).order_by(Event.starts_at)
        )
    )


async def invitations_page(
    session: AsyncSession, event_id: str, *, limit: int, offset: int
) -> Page[schemas.InvitationRow]:
    await seats.get_event(session, event_id)
    query = (
        select(Invitation)
        .where(Invitation.event_id == event_id)
        .order_by(Invitation.created_at, Invitation.id)
    )
    return await page_of(session, query, schemas.InvitationRow, limit=limit, offset=offset)


async def registrations_page(
    session: AsyncSession,
    event_id: str,
    *,
    status: RegistrationStatus | None,
    limit: int,
    offset: int,
) -> Page[schemas.RegistrationRow]:
    """The event's registrations in the order they came (the waitlist's order)."""
    await seats.get_event(session, event_id)
    query = select(Registration).where(Registration.event_id == event_id)
    if status is not None:
        query = query.where(Registration.status == status)
    return await page_of(
        session,
        query.order_by(Registration.position),
        schemas.RegistrationRow,
        limit=limit,
        offset=offset,
    )


def attendance_after(event_id: str) -> ReadAfter:
    """A reader of the event's confirmed attendees (name, address, organisation, check-in),
    a page after a position at a time, for `shared.downloads.streamed_csv`."""

    async def read_after(session: AsyncSession, after: int | None) -> list:
        rows = await session.execute(
            select(
                Registration.position,
                Registration.name,
                Registration.email,
                Registration.organisation,
                Registration.checked_in_at,
            )
            .where(
                Registration.event_id == event_id,
                Registration.status == RegistrationStatus.CONFIRMED,
                Registration.position > (after or 0),  # positions start at 1
            )
            .order_by(Registration.position)
            .limit(ROWS_PER_READ)
        )
        return [
            (
                position,
                (
                    spreadsheet_text(name),
                    spreadsheet_text(email),
                    spreadsheet_text(organisation or ""),
                    checked_in_at.isoformat() if checked_in_at else "",
                    "yes" if checked_in_at else "no",
                ),
            )
            for position, name, email, organisation, checked_in_at in rows
        ]

    return read_after


async def attendee_records(session: AsyncSession, email: str) -> list[schemas.AttendeeRecord]:
    """Every registration kept about a person, with the consent they gave and when."""
    return [
        schemas.AttendeeRecord(
            registration_id=r.id,
            event_id=e.id,
            event_title=e.title,
            event_starts_at=e.starts_at,
            name=r.name,
            email=r.email,
            organisation=r.organisation,
            language=r.language,
            status=r.status,
            consent_text=r.consent_text,
            consented_at=r.consented_at,
            created_at=r.created_at,
            checked_in_at=r.checked_in_at,
        )
        for r, e in await registrations.registrations_of(session, email)
    ]
