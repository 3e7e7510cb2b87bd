"""The public pages: an event's registration form, a registrant's own page (status, QR code
for check-in, cancel, accept an offered seat) and the calendar files.

Server-rendered with Jinja2 (autoescaped), in Danish or English (`?lang=`), plain forms
that work without JavaScript; errors are listed at the top and tied to their fields.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import segno
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from icalendar import Event as CalendarEvent
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.events import invitations, programme, queries, registrations, schemas, seats
from services.events.access import Access, EventsAccess
from services.events.domain import EventStatus
from services.events.tables import Event
from shared.calendar import calendar_file, event_entry, spoken_time
from shared.errors import DomainError, NotFound
from shared.http import Now, UnitOfWorkDep, get_runtime
from shared.time import LOCAL_TIME
from shared.web import SHARED_TEMPLATES, page_language

router = APIRouter(include_in_schema=False)  # pages for people; the API is under /v1
templates = Jinja2Templates(directory=[Path(__file__).parent / "templates", SHARED_TEMPLATES])


TEXT: dict[str, dict[str, str]] = {
    "da": {
        "register": "Tilmelding",
        "invitation": "Invitation",
        "invited": "Kære {name}, du er inviteret.",
        "will_you_come": "Kommer du?",
        "answer_yes": "Ja, jeg kommer",
        "answer_no": "Nej, jeg kommer ikke",
        "answer_maybe": "Måske",
        "send_answer": "Send svar",
        "thanks": "Tak for dit svar.",
        "err_answer": "Vælg et svar.",
        "programme": "Program",
        "sessions": "Sessioner med begrænset plads (valgfrit)",
        "places_free": "ledige pladser",
        "session_full": "fuldt",
        "role_speaker": "oplægsholder",
        "role_panellist": "paneldeltager",
        "role_moderator": "ordstyrer",
        "name": "Navn",
        "email": "E-mailadresse",
        "organisation": "Organisation (valgfri)",
        "consent": "Samtykke",
        "submit": "Tilmeld mig",
        "seats_free": "Der er ledige pladser.",
        "full": "Arrangementet er fuldt. Tilmelder du dig, kommer du på ventelisten, og vi "
        "skriver til dig, hvis en plads bliver ledig.",
        "closed": "Der er ikke åbent for tilmelding.",
        "by_invitation": "Arrangementet er kun for inviterede: svar via linket i din invitation.",
        "errors": "Tilmeldingen er ikke sendt. Ret venligst:",
        "err_name": "Skriv dit navn (højst 200 tegn, én linje).",
        "err_email": "Skriv en gyldig e-mailadresse, fx navn@kommune.dk.",
        "err_organisation": "Organisationen må højst fylde 200 tegn på én linje.",
        "err_consent": "Du skal give samtykke for at blive tilmeldt.",
        "err_other": "Et af valgene kunne ikke bruges (fx sessionerne). Prøv igen.",
        "when": "Tidspunkt",
        "where": "Sted",
        "accessibility": "Tilgængelighed",
        "partners": "Arrangeret med",
        "your_registration": "Din tilmelding",
        "status_confirmed": "Du er tilmeldt. Vis koden herunder ved indgangen.",
        "status_waitlisted": "Du er på ventelisten. Vi skriver til dig, hvis en plads bliver "
        "ledig.",
        "status_offered": "Der er en plads til dig. Tag imod den senest {until}.",
        "status_expired": "Tilbuddet om en plads er udløbet, og pladsen er givet videre.",
        "status_cancelled": "Din tilmelding er annulleret.",
        "checkin_code": "Kode til indtjekning",
        "qr_label": "QR-kode til indtjekning med koden {code}",
        "accept": "Tag imod pladsen",
        "cancel": "Annullér min tilmelding",
        "calendar": "Føj til kalender (.ics)",
        "keep_link": "Gem linket til denne side: her kan du se og annullere din tilmelding.",
        "other_language": "English",
        "not_found": "Siden findes ikke.",
        "too_many": "For mange tilmeldinger fra din adresse. Prøv igen om lidt.",
        "back": "Tilbage til arrangementet",
    },
    "en": {
        "register": "Registration",
        "invitation": "Invitation",
        "invited": "Dear {name}, you are invited.",
        "will_you_come": "Will you come?",
        "answer_yes": "Yes, I will come",
        "answer_no": "No, I will not come",
        "answer_maybe": "Maybe",
        "send_answer": "Send answer",
        "thanks": "Thank you for your answer.",
        "err_answer": "Choose an answer.",
        "programme": "Programme",
        "sessions": "Sessions with limited places (optional)",
        "places_free": "places free",
        "session_full": "full",
        "role_speaker": "speaker",
        "role_panellist": "panellist",
        "role_moderator": "moderator",
        "name": "Name",
        "email": "E-mail address",
        "organisation": "Organisation (optional)",
        "consent": "Consent",
        "submit": "Register",
        "seats_free": "Seats are free.",
        "full": "The event is full. If you register, you join the waitlist, and we will "
        "write to you if a seat comes free.",
        "closed": "Registration is not open.",
        "by_invitation": "The event is by invitation: answer through the link in your invitation.",
        "errors": "Your registration was not sent. Please correct:",
        "err_name": "Enter your name (at most 200 characters, one line).",
        "err_email": "Enter a valid e-mail address, e.g. name@example.org.",
        "err_organisation": "The organisation can be at most 200 characters on one line.",
        "err_consent": "You must give your consent to register.",
        "err_other": "One of the choices could not be used (e.g. the sessions). Please try again.",
        "when": "When",
        "where": "Where",
        "accessibility": "Accessibility",
        "partners": "Organised with",
        "your_registration": "Your registration",
        "status_confirmed": "You are registered. Show the code below at the entrance.",
        "status_waitlisted": "You are on the waitlist. We will write to you if a seat comes free.",
        "status_offered": "A seat is free for you. Accept it by {until}.",
        "status_expired": "The offer of a seat has expired, and the seat has passed on.",
        "status_cancelled": "Your registration is cancelled.",
        "checkin_code": "Check-in code",
        "qr_label": "QR code for check-in with the code {code}",
        "accept": "Accept the seat",
        "cancel": "Cancel my registration",
        "calendar": "Add to calendar (.ics)",
        "keep_link": "Keep the link to this page: here you can see and cancel your registration.",
        "other_language": "Dansk",
        "not_found": "There is no such page.",
        "too_many": "Too many registrations from your address. Please try again shortly.",
        "back": "Back to the event",
    },
}
FIELDS = ("name", "email", "organisation", "consent")


def _form_context(
    form: FormData | None, errors: dict[str, str] | None, language: str
) -> dict[str, Any]:
    """What a form page shows again: what was typed and chosen, what was wrong, the consent."""
    form = form or FormData()
    return {
        "form": form,
        "errors": errors or {},
        "consent": schemas.consent_text(language),
        "chosen": set(form.getlist("session")),
    }


def _field_errors(
    exc: ValidationError, fields: tuple[str, ...], text: dict[str, str]
) -> dict[str, str]:
    """Each bad field's message, in the page's language; anything else as one message."""
    bad = {str(error["loc"][0]) if error["loc"] else "" for error in exc.errors()}
    errors = {field: text[f"err_{field}"] for field in fields if field in bad}
    if bad - set(fields):
        errors["form"] = text["err_other"]
    return errors


def _clock(when: datetime) -> str:
    return when.astimezone(LOCAL_TIME).strftime("%H:%M")


def _render(
    request: Request, name: str, language: str, http_status: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": TEXT[language],
            "lang": language,
            "local": lambda w: spoken_time(w, language),
            "clock": _clock,
            **context,
        },
        status_code=http_status,
    )


def _message(request: Request, language: str, status: int, text: str) -> HTMLResponse:
    """A page of one sentence: news (a status), or a refusal (an alert)."""
    role = "status" if status < 400 else "alert"
    return _render(request, "message.html", language, http_status=status, message=text, role=role)


async def _registration_page(
    request: Request,
    uow: UnitOfWorkDep,
    event_id: str,
    now: datetime,
    *,
    form: FormData | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with uow:
        try:
            event = await queries.public_event(uow.session, event_id)
        except NotFound:
            return _message(
                request, page_language(request), 404, TEXT[page_language(request)]["not_found"]
            )
        counted = (await seats.seats_of(uow.session, [event], now))[event.id]
        sessions = await programme.programme(uow.session, event.id)
    language = page_language(request, event.language)
    open_ = event.status == EventStatus.PUBLISHED and event.starts_at > now
    return _render(
        request,
        "register.html",
        language,
        http_status=status,
        event=event,
        seats=counted,
        open=open_ and not event.invitation_only,
        by_invitation=event.invitation_only,
        programme=sessions,
        **_form_context(form, errors, language),
    )


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def registration_form(
    event_id: str, request: Request, uow: UnitOfWorkDep, now: Now
) -> HTMLResponse:
    return await _registration_page(request, uow, event_id, now)


@router.post("/events/{event_id}", response_class=HTMLResponse)
async def register(
    event_id: str, request: Request, uow: UnitOfWorkDep, access: Access, now: Now
) -> Response:
    form = await request.form()
    chosen = form.get("language")
    language = chosen if isinstance(chosen, str) and chosen in TEXT else page_language(request)
    text = TEXT[language]
    try:
        access.rate_limit.check(request)
    except HTTPException as exc:
        response = _message(request, language, 429, text["too_many"])
        response.headers.update(exc.headers or {})
        return response
    try:
        cmd = schemas.RegistrationCreate(
            name=form.get("name", ""),
            email=form.get("email", ""),
            organisation=form.get("organisation") or None,
            language=language,
            consent=form.get("consent") == "yes",
            session_ids=form.getlist("session"),
        )
    except ValidationError as exc:
        errors = _field_errors(exc, FIELDS, text)
        return await _registration_page(
            request, uow, event_id, now, form=form, errors=errors, status=422
        )
    try:
        await access.registrar.register(event_id, cmd)
    except DomainError as exc:
        return await _registration_page(
            request, uow, event_id, now, form=form, errors={"form": exc.detail}, status=exc.status
        )
    # the outcome goes by e-mail only: the page is the same for an address new to the event
    return RedirectResponse(f"/events/{event_id}/registered?lang={language}", status_code=303)


@router.get("/events/{event_id}/registered", response_class=HTMLResponse)
async def registered(event_id: str, request: Request) -> HTMLResponse:
    language = page_language(request)
    return _message(request, language, 200, schemas.RECEIVED[language])


async def _own_page(
    request: Request, uow: UnitOfWorkDep, access: EventsAccess, token: str, now: datetime
) -> HTMLResponse:
    language = page_language(request)
    try:
        registration_id = access.links.registration_id(token)
        async with uow:
            registration = await registrations.get_registration(uow.session, registration_id)
            event = await seats.get_event(uow.session, registration.event_id)
    except NotFound:
        return _message(request, language, 404, TEXT[language]["not_found"])
    language = page_language(request, registration.language)
    status = registrations.shown_status(registration, now)
    qr = segno.make(registration.code, error="m").svg_inline(scale=5, omitsize=True)
    return _render(
        request,
        "registration.html",
        language,
        event=event,
        registration=registration,
        status=status,
        token=token,
        qr=qr,
    )


@router.get("/registrations/{token}", response_class=HTMLResponse)
async def own_registration(
    token: str, request: Request, uow: UnitOfWorkDep, access: Access, now: Now
) -> HTMLResponse:
    return await _own_page(request, uow, access, token, now)


@router.post("/registrations/{token}/cancel")
async def cancel(token: str, request: Request, uow: UnitOfWorkDep, access: Access) -> Response:
    return await _act(request, uow, access, token, "cancel")


@router.post("/registrations/{token}/accept")
async def accept(token: str, request: Request, uow: UnitOfWorkDep, access: Access) -> Response:
    return await _act(request, uow, access, token, "accept")


async def _act(
    request: Request, uow: UnitOfWorkDep, access: EventsAccess, token: str, action: str
) -> Response:
    language = page_language(request)
    try:
        registration_id = access.links.registration_id(token)
        if action == "cancel":
            await registrations.cancel_registration(uow, registration_id, access.policy)
        else:
            await registrations.accept_offer(uow, registration_id, access.policy)
    except DomainError as exc:
        return _message(request, language, exc.status, exc.detail)
    return RedirectResponse(f"/registrations/{token}?lang={language}", status_code=303)


# --- an invited person's answer -------------------------------------------------------------


async def _invitation_page(
    request: Request,
    uow: UnitOfWorkDep,
    access: EventsAccess,
    token: str,
    *,
    form: FormData | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    language = page_language(request)
    try:
        async with uow:
            invitation, event = await invitations.get_invitation(
                uow.session, access.links.invitation_id(token)
            )
            sessions = await programme.programme(uow.session, event.id)
    except NotFound:
        return _message(request, language, 404, TEXT[language]["not_found"])
    language = page_language(request, invitation.language)
    return _render(
        request,
        "invitation.html",
        language,
        http_status=status,
        event=event,
        invitation=invitation,
        token=token,
        programme=sessions,
        **_form_context(form, errors, language),
    )


@router.get("/invitations/{token}", response_class=HTMLResponse)
async def invitation_form(
    token: str, request: Request, uow: UnitOfWorkDep, access: Access
) -> HTMLResponse:
    return await _invitation_page(request, uow, access, token)


@router.post("/invitations/{token}", response_class=HTMLResponse)
async def answer_invitation(
    token: str, request: Request, uow: UnitOfWorkDep, access: Access
) -> Response:
    form = await request.form()
    language = page_language(request)
    text = TEXT[language]
    try:
        cmd = schemas.Rsvp(
            answer=form.get("answer"),
            consent=form.get("consent") == "yes",
            organisation=form.get("organisation") or None,
            session_ids=form.getlist("session"),
        )
    except ValidationError as exc:
        errors = _field_errors(exc, ("answer", "organisation", "consent"), text)
        return await _invitation_page(
            request, uow, access, token, form=form, errors=errors, status=422
        )
    try:
        invitation = await invitations.rsvp(
            uow, access.links.invitation_id(token), cmd, access.policy
        )
    except DomainError as exc:
        return await _invitation_page(
            request, uow, access, token, form=form, errors={"form": exc.detail}, status=exc.status
        )
    if invitation.answer == "yes" and invitation.registration_id:
        own = access.links.token(invitation.registration_id)
        return RedirectResponse(f"/registrations/{own}?lang={language}", status_code=303)
    return _message(request, language, 200, text["thanks"])


# --- calendar -------------------------------------------------------------------------------

ICS = "text/calendar; charset=utf-8"


def _calendar_entry(event: Event, request: Request) -> CalendarEvent:
    # the configured address, not the request's Host header: a feed a cache keeps must not
    # send subscribers to whatever host a client named
    public_url = get_runtime(request).settings.public_url.rstrip("/")
    return event_entry(
        event_id=event.id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        places=(event.venue, event.address),
        url=f"{public_url}/events/{event.id}",
        stamp=event.created_at,
        description=event.description,
        cancelled=event.status == EventStatus.CANCELLED,
    )


def _calendar(entries: list[CalendarEvent]) -> Response:
    return Response(calendar_file(entries, "events"), media_type=ICS)


@router.get("/events.ics")
async def calendar_feed(request: Request, uow: UnitOfWorkDep) -> Response:
    """Every published event, for a calendar to subscribe to."""
    async with uow:
        events = await queries.public_events(uow.session)
        entries = [_calendar_entry(event, request) for event in events]
    return _calendar(entries)


@router.get("/events/{event_id}/calendar.ics")
async def event_calendar(event_id: str, request: Request, uow: UnitOfWorkDep) -> Response:
    async with uow:
        event = await queries.public_event(uow.session, event_id)
    return _calendar([_calendar_entry(event, request)])
