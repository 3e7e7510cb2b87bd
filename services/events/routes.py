"""The events service's JSON API: events and their lifecycle for organisers, registration
for anyone (rate-limited), personal links for registrants, check-in at the door."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.events import (
    invitations,
    lifecycle,
    programme,
    queries,
    registrations,
    schemas,
    seats,
)
from services.events.access import Access, EventManager, EventsAccess, RegistrationLimit
from services.events.domain import RegistrationStatus
from services.events.tables import Invitation, Registration
from shared.auth import CurrentPrincipal
from shared.downloads import streamed_csv
from shared.http import Now, UnitOfWorkDep, get_runtime
from shared.pagination import Limit, Offset, Page
from shared.uow import UnitOfWork

router = APIRouter(prefix="/v1/events", tags=["events"])
own_registrations = APIRouter(prefix="/v1/registrations", tags=["registrations"])
personal_data = APIRouter(prefix="/v1/attendees", tags=["personal data"])
invitation_answers = APIRouter(prefix="/v1/invitations", tags=["invitations"])


@router.get("", response_model=Page[schemas.EventPublic])
async def list_events(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    now: Now,
    plan_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.EventPublic]:
    async with uow:
        return await queries.events_page(
            uow.session, now, plan_id=plan_id, limit=limit, offset=offset
        )


@router.post("", status_code=201, response_model=schemas.EventPublic)
async def create_event(
    cmd: schemas.EventCreate, uow: UnitOfWorkDep, _: EventManager, now: Now
) -> schemas.EventPublic:
    event = await lifecycle.create_event(uow, cmd)
    return await _read_event(uow, event.id, now)


async def _read_event(uow: UnitOfWork, event_id: str, now: datetime) -> schemas.EventPublic:
    async with uow:
        return await queries.event(uow.session, event_id, now)


@router.get("/{event_id}", response_model=schemas.EventPublic)
async def get_event(
    event_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal, now: Now
) -> schemas.EventPublic:
    return await _read_event(uow, event_id, now)


@router.patch("/{event_id}", response_model=schemas.EventPublic)
async def update_event(
    event_id: str,
    cmd: schemas.EventUpdate,
    uow: UnitOfWorkDep,
    _: EventManager,
    access: Access,
    now: Now,
) -> schemas.EventPublic:
    await lifecycle.update_event(uow, event_id, cmd, access.policy)
    return await _read_event(uow, event_id, now)


@router.post("/{event_id}/publish", response_model=schemas.EventPublic)
async def publish_event(
    event_id: str, uow: UnitOfWorkDep, _: EventManager, access: Access, now: Now
) -> schemas.EventPublic:
    """Announce the event: from now on it takes registrations."""
    await lifecycle.change_status(uow, event_id, "publish", access.policy)
    return await _read_event(uow, event_id, now)


@router.post("/{event_id}/complete", response_model=schemas.EventPublic)
async def complete_event(
    event_id: str, uow: UnitOfWorkDep, _: EventManager, access: Access, now: Now
) -> schemas.EventPublic:
    """The event was held: its counts are final."""
    await lifecycle.change_status(uow, event_id, "complete", access.policy)
    return await _read_event(uow, event_id, now)


@router.post("/{event_id}/cancel", response_model=schemas.EventPublic)
async def cancel_event(
    event_id: str,
    cmd: schemas.EventCancel,
    uow: UnitOfWorkDep,
    _: EventManager,
    access: Access,
    now: Now,
) -> schemas.EventPublic:
    await lifecycle.change_status(uow, event_id, "cancel", access.policy, cmd.reason)
    return await _read_event(uow, event_id, now)


@router.post("/{event_id}/sessions", status_code=201, response_model=schemas.SessionPublic)
async def add_session(
    event_id: str, cmd: schemas.SessionCreate, uow: UnitOfWorkDep, _: EventManager
) -> schemas.SessionPublic:
    """Add a session to the event's programme, with who is on stage."""
    session_id = await programme.add_session(uow, event_id, cmd)
    async with uow:
        return next(
            s for s in await programme.programme(uow.session, event_id) if s.id == session_id
        )


@router.post("/{event_id}/invitations", status_code=201, response_model=list[schemas.InvitationRow])
async def invite(
    event_id: str,
    cmd: schemas.InvitationsCreate,
    uow: UnitOfWorkDep,
    _: EventManager,
    access: Access,
) -> list[Invitation]:
    """Invite named people: each gets an e-mail with a personal link to answer yes, no or
    maybe (yes registers them). Someone already invited is left out of the answer."""
    return await invitations.invite(uow, event_id, cmd.people, access.policy)


@router.post("/{event_id}/invitations/audience", status_code=202)
async def invite_audience(
    event_id: str,
    cmd: schemas.AudienceInvitation,
    uow: UnitOfWorkDep,
    _: EventManager,
    access: Access,
) -> dict[str, str]:
    """Invite an audience to an open event: each of its contacts who consented to e-mail
    gets the event's page, once (the notifications service knows them)."""
    await invitations.invite_audience(uow, event_id, cmd.audience_id, access.policy)
    return {"status": "accepted"}


@router.get("/{event_id}/invitations", response_model=Page[schemas.InvitationRow])
async def list_invitations(
    event_id: str, uow: UnitOfWorkDep, _: EventManager, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.InvitationRow]:
    """Who was invited, and what they answered."""
    async with uow:
        return await queries.invitations_page(uow.session, event_id, limit=limit, offset=offset)


@router.get("/{event_id}/programme", response_model=list[schemas.SessionPublic])
async def get_programme(
    event_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> list[schemas.SessionPublic]:
    async with uow:
        await seats.get_event(uow.session, event_id)
        return await programme.programme(uow.session, event_id)


@router.post(
    "/{event_id}/registrations",
    status_code=202,
    response_model=schemas.RegistrationReceived,
    dependencies=[RegistrationLimit],
)
async def register(
    event_id: str, cmd: schemas.RegistrationCreate, access: Access
) -> schemas.RegistrationReceived:
    """Register for a published event — no account needed. A free seat is confirmed at
    once; a full event puts the registration on its waitlist. Either way the person is
    e-mailed their personal link (their status, check-in code, cancellation); an address
    already registered is sent its link again. The answer is the same in every case, so it
    tells nobody whether an address was registered before."""
    await access.registrar.register(event_id, cmd)
    return schemas.RegistrationReceived(event_id=event_id, message=schemas.RECEIVED[cmd.language])


def _own_view(
    registration: Registration, access: EventsAccess, now: datetime
) -> schemas.RegistrationPublic:
    return schemas.RegistrationPublic(
        id=registration.id,
        event_id=registration.event_id,
        name=registration.name,
        status=registrations.shown_status(registration, now),
        language=registration.language,
        created_at=registration.created_at,
        hold_expires_at=registration.hold_expires_at,
        code=registration.code,
        token=access.links.token(registration.id),
    )


@router.get("/{event_id}/registrations", response_model=Page[schemas.RegistrationRow])
async def list_registrations(
    event_id: str,
    uow: UnitOfWorkDep,
    _: EventManager,
    status: RegistrationStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.RegistrationRow]:
    """The event's registrations in the order they came (the waitlist's order)."""
    async with uow:
        return await queries.registrations_page(
            uow.session, event_id, status=status, limit=limit, offset=offset
        )


@router.post("/{event_id}/check-ins", response_model=list[schemas.ScanResult])
async def check_in(
    event_id: str, cmd: schemas.CheckIns, uow: UnitOfWorkDep, _: EventManager, access: Access
) -> list[schemas.ScanResult]:
    """Check attendees in by the code on their confirmation (its QR code). Scanning a code
    twice is one check-in; scans made offline are uploaded later with their own times.
    A retried request with the same `Idempotency-Key` gets the first answer again."""
    return await registrations.check_in(uow, event_id, cmd.scans, access.policy)


@router.get(
    "/{event_id}/attendance.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "One row per confirmed seat."}},
)
async def attendance(
    event_id: str, request: Request, uow: UnitOfWorkDep, _: EventManager
) -> StreamingResponse:
    """The confirmed attendees and whether each came (no-shows have no check-in time)."""
    async with uow:
        await seats.get_event(uow.session, event_id)

    return streamed_csv(
        f"attendance-{event_id}.csv",
        ("name", "email", "organisation", "checked_in_at", "attended"),
        get_runtime(request).sessions,
        queries.attendance_after(event_id),
    )


# --- the registrant's own, through their personal link ---------------------------------------


@own_registrations.get("/{token}", response_model=schemas.RegistrationPublic)
async def own_registration(
    token: str, uow: UnitOfWorkDep, access: Access, now: Now
) -> schemas.RegistrationPublic:
    registration_id = access.links.registration_id(token)
    async with uow:
        registration = await registrations.get_registration(uow.session, registration_id)
    return _own_view(registration, access, now)


@own_registrations.post("/{token}/cancel", response_model=schemas.RegistrationPublic)
async def cancel_own_registration(
    token: str, uow: UnitOfWorkDep, access: Access, now: Now
) -> schemas.RegistrationPublic:
    """Cancel; a seat that comes free is offered to the first on the waitlist."""
    registration = await registrations.cancel_registration(
        uow, access.links.registration_id(token), access.policy
    )
    return _own_view(registration, access, now)


@own_registrations.post("/{token}/accept", response_model=schemas.RegistrationPublic)
async def accept_offer(
    token: str, uow: UnitOfWorkDep, access: Access, now: Now
) -> schemas.RegistrationPublic:
    """Take the seat offered from the waitlist, while the offer holds."""
    registration = await registrations.accept_offer(
        uow, access.links.registration_id(token), access.policy
    )
    return _own_view(registration, access, now)


# --- a person's data: export and erasure (GDPR articles 15 and 17) --------------------------


@personal_data.post("/export", response_model=list[schemas.AttendeeRecord])
async def export_attendee(
    cmd: schemas.AttendeeQuery, uow: UnitOfWorkDep, _: EventManager
) -> list[schemas.AttendeeRecord]:
    """Every registration kept about a person, with the consent they gave and when."""
    async with uow:
        return await queries.attendee_records(uow.session, cmd.email)


@personal_data.post("/erase", response_model=schemas.Erased)
async def erase_attendee(
    cmd: schemas.AttendeeQuery, uow: UnitOfWorkDep, _: EventManager, access: Access
) -> schemas.Erased:
    """Erase a person's name, address and organisation from all their registrations; the
    counts (registered, waitlisted, checked in) stay. The notifications service erases its
    copy of the address from the e-mails it sent them."""
    return schemas.Erased(
        registrations=await registrations.erase_attendee(uow, cmd.email, access.policy)
    )


# --- an invited person's answer, through their personal link --------------------------------


@invitation_answers.post("/{token}/rsvp", response_model=schemas.InvitationRow)
async def rsvp(token: str, cmd: schemas.Rsvp, uow: UnitOfWorkDep, access: Access) -> Invitation:
    """Answer an invitation: yes registers (a seat, or the waitlist when full), no or maybe
    after a yes gives the seat back."""
    return await invitations.rsvp(uow, access.links.invitation_id(token), cmd, access.policy)
