"""An event's programme: sessions in rooms and times, who is on stage, and sign-ups for
the sessions with a cap."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import schemas
from services.events.domain import (
    ACTIVE,
    EventStatus,
)
from services.events.seats import get_event
from services.events.tables import (
    Event,
    ProgrammeSession,
    Registration,
    SessionPerson,
    SessionSignup,
)
from shared.errors import Conflict, RuleViolation
from shared.ids import new_id
from shared.uow import UnitOfWork


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
    taken = await signups(session, ids)
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


async def signups(session: AsyncSession, session_ids: list[str]) -> dict[str, int]:
    """Places taken in each session: the sign-ups of registrations still in the running."""
    rows = await session.execute(
        select(SessionSignup.session_id, func.count())
        .join(Registration, Registration.id == SessionSignup.registration_id)
        .where(SessionSignup.session_id.in_(session_ids), Registration.status.in_(ACTIVE))
        .group_by(SessionSignup.session_id)
    )
    return dict(rows.all())


async def sessions_to_join(
    uow: UnitOfWork, event: Event, session_ids: list[str]
) -> list[ProgrammeSession]:
    """The sessions of its event a registration may sign up for: each must exist, none may
    overlap another, and none may be full. Runs under the event's lock, like the seats."""
    if not session_ids:
        return []
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
    taken = await signups(uow.session, [s.id for s in chosen])
    for s in chosen:
        if s.capacity is not None and taken.get(s.id, 0) >= s.capacity:
            raise Conflict(f"the session {s.title!r} is full")
    return chosen


def sign_up(uow: UnitOfWork, registration: Registration, chosen: list[ProgrammeSession]) -> None:
    for s in chosen:
        uow.session.add(SessionSignup(session_id=s.id, registration_id=registration.id))
