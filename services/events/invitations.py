"""Named people invited to an event, each with a personal link to answer; yes registers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.events import schemas
from services.events.domain import (
    ACTIVE,
    takes_registrations,
)
from services.events.policy import Policy
from services.events.registrations import add_registration, tally, withdraw
from services.events.seats import get_event
from services.events.tables import (
    Event,
    Invitation,
    Registration,
)
from shared.contracts.events import (
    AudienceInvited,
    Invited,
    RsvpRecorded,
)
from shared.errors import Conflict, NotFound
from shared.ids import new_id
from shared.uow import UnitOfWork


async def invite(
    uow: UnitOfWork, event_id: str, people: list[schemas.Invitee], policy: Policy
) -> list[Invitation]:
    """Invite named people, each with a personal link to answer; someone invited before is
    not invited twice."""
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        takes_registrations(event.status, event.starts_at, uow.now())
        known = set(
            await uow.session.scalars(
                select(Invitation.email).where(Invitation.event_id == event.id)
            )
        )
        invited = []
        for person in people:
            email = person.email.lower()
            if email in known:
                continue
            known.add(email)
            invitation = Invitation(
                id=new_id(),
                event_id=event.id,
                name=person.name,
                email=email,
                language=person.language,
                created_at=uow.now(),
            )
            uow.session.add(invitation)
            uow.publish(Invited(**policy.invitation(invitation, event)), subject=event.id)
            invited.append(invitation)
        await uow.commit()
    return invited


async def get_invitation(session: AsyncSession, invitation_id: str) -> tuple[Invitation, Event]:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.erased:
        raise NotFound("no such invitation")
    return invitation, await get_event(session, invitation.event_id)


async def rsvp(
    uow: UnitOfWork, invitation_id: str, cmd: schemas.Rsvp, policy: Policy
) -> Invitation:
    """Record an answer. Yes registers the invited person (a seat, or the waitlist); a later
    no or maybe gives the seat back."""
    async with uow:
        invitation = await uow.session.get(Invitation, invitation_id)
        if invitation is None or invitation.erased:
            raise NotFound("no such invitation")
        event = await get_event(uow.session, invitation.event_id, lock=True)
        await uow.session.refresh(invitation)  # as it is now that we hold the event
        registration = None
        if invitation.registration_id:
            registration = await uow.session.get(Registration, invitation.registration_id)
        if cmd.answer == "yes" and not (registration and registration.status in ACTIVE):
            takes_registrations(event.status, event.starts_at, uow.now())
            answer = schemas.RegistrationCreate(
                name=invitation.name,
                email=invitation.email,
                organisation=cmd.organisation,
                language=invitation.language,
                consent=cmd.consent,
                session_ids=cmd.session_ids,
            )
            line = await tally(uow, event, [answer.email.lower()], policy)
            registration = await add_registration(uow, event, answer, policy, line)
            await uow.session.flush()  # the registration's row first: the invitation refers to it
            invitation.registration_id = registration.id
        elif cmd.answer != "yes" and registration:
            await withdraw(uow, registration, event, policy)
        invitation.answer, invitation.answered_at = cmd.answer, uow.now()
        uow.publish(
            RsvpRecorded(
                invitation_id=invitation.id,
                event_id=event.id,
                plan_id=event.plan_id,
                answer=cmd.answer,
                registration_id=invitation.registration_id,
            ),
            subject=event.id,
        )
        await uow.commit()
    return invitation


async def invite_audience(uow: UnitOfWork, event_id: str, audience_id: str, policy: Policy) -> None:
    """Invite an audience to an open event: the notifications service writes to each of its
    contacts who consented, with the event's page (by invitation only would need a
    personal link per person, which it cannot sign)."""
    async with uow:
        event = await get_event(uow.session, event_id, lock=True)
        takes_registrations(event.status, event.starts_at, uow.now())
        if event.invitation_only:
            raise Conflict("an event by invitation only invites named people, each with a link")
        uow.publish(
            AudienceInvited(
                event_id=event.id,
                plan_id=event.plan_id,
                audience_id=audience_id,
                language=event.language,
                event=policy.summary(event),
            ),
            subject=event.id,
        )
        await uow.commit()
