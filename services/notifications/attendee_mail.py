"""Messages to the people registered for an event: what the events service publishes about
a registration becomes one e-mail to that person, in their language, sent by the same
sender (and kept in the same ledger) as the activities' deliveries.

Each message goes once per person and kind: its `dedupe_key` is unique, so a registration
event sent twice (even with a new event id) makes no second e-mail. One plain text per
kind, in Danish and English; richer templates come with the notifications work.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, select, update

from services.notifications import lists
from services.notifications.domain import DeliveryStatus
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import (
    AudienceMember,
    Contact,
    Delivery,
    Suppression,
    SurveyGate,
)
from shared.calendar import calendar_file, event_entry, spoken_time
from shared.contracts import Envelope, EventData
from shared.contracts.events import (
    Attendee,
    AttendeeErased,
    AttendeeTold,
    AudienceInvited,
    EventSummary,
    Invited,
    InviteeErased,
    PersonalMessage,
    RegistrationCancelled,
    RegistrationConfirmed,
    RegistrationEvent,
    RegistrationOffered,
    RegistrationOfferExpired,
    RegistrationPromoted,
    RegistrationRepeated,
    RegistrationWaitlisted,
    ReminderDue,
    SurveyRequested,
)
from shared.contracts.metrics import SurveyClosed, SurveyOpened
from shared.contracts.vocabulary import ChannelKind
from shared.db import upsert
from shared.ids import new_id
from shared.links import survey_link
from shared.time import LOCAL_TIME
from shared.uow import UnitOfWork

GREETING = {"da": "Kære {name}", "en": "Dear {name}"}
SIGNATURE = {"da": "Med venlig hilsen\nArrangørerne", "en": "Kind regards\nThe organisers"}
YOUR_PAGE = {
    "da": "Din side (kode til indtjekning, framelding): {link}",
    "en": "Your page (check-in code, cancellation): {link}",
}
ANSWER_HERE = {"da": "Svar her: {link}", "en": "Answer here: {link}"}
SURVEY_HERE = {
    "da": "Svar her (linket er dit eget og virker én gang): {link}",
    "en": "Answer here (the link is yours and works once): {link}",
}
LINK_LINE = {"invitation": ANSWER_HERE, "survey": SURVEY_HERE}

# kind → language → (subject, body); {title}, {when}, {where}, {until}, {reason}, {days}
TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "confirmed": {
        "da": ("Du er tilmeldt: {title}", "Du er tilmeldt {title}, {when}{where}."),
        "en": ("You are registered: {title}", "You are registered for {title}, {when}{where}."),
    },
    "waitlisted": {
        "da": (
            "Venteliste: {title}",
            "{title} er fuldt booket, så du er på ventelisten. Bliver en plads ledig, "
            "skriver vi til dig.",
        ),
        "en": (
            "Waitlist: {title}",
            "{title} is fully booked, so you are on the waitlist. If a seat comes free, "
            "we will write to you.",
        ),
    },
    "repeated": {
        "da": (
            "Din tilmelding: {title}",
            "Der er netop sendt en tilmelding til {title}, {when}, med denne e-mailadresse, "
            "men den var allerede tilmeldt. Du skal ikke gøre noget: din side viser din "
            "tilmelding. Var det ikke dig, kan du se bort fra denne e-mail.",
        ),
        "en": (
            "Your registration: {title}",
            "Someone has just registered this e-mail address for {title}, {when}, but it was "
            "already registered. There is nothing you need to do: your page shows your "
            "registration. If it was not you, you can ignore this e-mail.",
        ),
    },
    "offered": {
        "da": (
            "Der er en plads til dig: {title}",
            "En plads til {title}, {when}, er blevet ledig, og vi holder den til dig til "
            "{until}. Tag imod den på din side; ellers går den videre til den næste på "
            "ventelisten.",
        ),
        "en": (
            "A seat is free for you: {title}",
            "A seat at {title}, {when}, has come free, and we hold it for you until "
            "{until}. Accept it on your page; otherwise it passes on to the next on the "
            "waitlist.",
        ),
    },
    "offer_expired": {
        "da": (
            "Pladsen er givet videre: {title}",
            "Du tog ikke imod pladsen til {title} i tide, så den er givet videre.",
        ),
        "en": (
            "The seat has passed on: {title}",
            "You did not accept the seat at {title} in time, so it has passed on.",
        ),
    },
    "cancelled": {
        "da": ("Framelding: {title}", "Din tilmelding til {title} er annulleret."),
        "en": ("Cancellation: {title}", "Your registration for {title} is cancelled."),
    },
    "rescheduled": {
        "da": (
            "Nyt tidspunkt: {title}",
            "{title} er flyttet til {when}{where}. {reason}",
        ),
        "en": ("New time: {title}", "{title} has moved to {when}{where}. {reason}"),
    },
    "event_cancelled": {
        "da": ("Aflyst: {title}", "{title}, {when}, er desværre aflyst. {reason}"),
        "en": ("Cancelled: {title}", "We are sorry: {title}, {when}, is cancelled. {reason}"),
    },
    "invitation": {
        "da": (
            "Invitation: {title}",
            "Vi vil gerne invitere dig til {title}, {when}{where}. Svar ja, nej eller måske "
            "via linket herunder.",
        ),
        "en": (
            "Invitation: {title}",
            "We would like to invite you to {title}, {when}{where}. Answer yes, no or maybe "
            "through the link below.",
        ),
    },
    "reminder": {
        "da": ("Påmindelse: {title}", "Vi glæder os til at se dig til {title}, {when}{where}."),
        "en": ("Reminder: {title}", "We look forward to seeing you at {title}, {when}{where}."),
    },
    "survey": {
        "da": (
            "Hvordan gik det? {title}",
            "Tak fordi du deltog i {title}. Vil du bruge et par minutter på at fortælle os, "
            "hvordan det gik? Dine svar hjælper os med at gøre det bedre.",
        ),
        "en": (
            "How did it go? {title}",
            "Thank you for taking part in {title}. Would you spend a few minutes telling us "
            "how it went? Your answers help us do better.",
        ),
    },
}
WITH_CALENDAR = {
    "confirmed",
    "rescheduled",
    "reminder",
    "invitation",
}  # these carry the event's .ics


def compose(
    kind: str, data: PersonalMessage, link: str | None = None, **extra: str
) -> tuple[str, str]:
    """The subject and plain text of one kind of message, in the attendee's language; `link`
    replaces the attendee's own page (the survey's link)."""
    assert data.attendee is not None and data.event is not None
    language = data.attendee.language
    event = data.event
    where = ", ".join(part for part in (event.venue, event.address) if part)
    fields = {
        "title": event.title,
        "when": spoken_time(event.starts_at, language),
        "where": f", {where}" if where else "",
        "reason": "",
        **extra,
    }
    subject, text = TEXTS[kind][language]
    body = "\n\n".join(
        [
            GREETING[language].format(name=data.attendee.name),
            text.format(**fields).strip(),
            LINK_LINE.get(kind, YOUR_PAGE)[language].format(link=link or data.attendee.link),
            SIGNATURE[language],
        ]
    )
    return subject.format(**fields), body + "\n"


def _calendar(message: PersonalMessage) -> str:
    event: EventSummary = message.event  # type: ignore[assignment]
    entry = event_entry(
        event_id=message.event_id,
        title=event.title,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        places=(event.venue, event.address),
        url=event.link,
        stamp=event.starts_at,
    )
    return calendar_file([entry], "notifications").decode()


async def _queue(
    uow: UnitOfWork,
    kind: str,
    dedupe: str,
    data: PersonalMessage,
    link: str | None = None,
    *,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    at: datetime | None = None,
    contact_id: str | None = None,
    **extra: str,
) -> None:
    """One message to the person (pending, to go `at` a time or now), unless this one was
    queued before; to a contact of ours, `contact_id`."""
    if data.attendee is None or data.event is None:
        return  # their data was erased: nobody to write to
    key = f"{dedupe}:{data.person_id}"
    if await uow.session.scalar(select(Delivery.id).where(Delivery.dedupe_key == key)):
        return
    subject, body = compose(kind, data, link, **extra)
    when = _not_before(uow, at)
    uow.session.add(
        Delivery(
            id=new_id(),
            kind=kind,
            event_id=data.event_id,
            plan_id=data.plan_id,
            contact_id=contact_id,
            recipient_name=data.attendee.name,
            recipient_email=data.attendee.email,
            dedupe_key=key,
            attachment=_calendar(data) if kind in WITH_CALENDAR else None,
            channel=ChannelKind.EMAIL,
            subject=subject[:300],
            body=body,
            status=status,
            attempts=0,
            scheduled_for=when,
            next_attempt_at=when,
            created_at=uow.now(),
        )
    )


def _not_before(uow: UnitOfWork, at: datetime | None) -> datetime:
    """Now, or `at` if that is later."""
    now = uow.now()
    return max(now, at) if at is not None else now


def _simple(kind: str) -> Callable:
    async def handle(uow: UnitOfWork, _envelope: Envelope, data: RegistrationEvent) -> None:
        await _queue(uow, kind, kind, data)

    handle.__name__ = f"on_{kind}"
    return handle


async def on_offered(uow: UnitOfWork, _envelope: Envelope, data: RegistrationOffered) -> None:
    language = data.attendee.language if data.attendee else "da"
    until = spoken_time(data.hold_expires_at, language)
    await _queue(uow, "offered", f"offered:{data.hold_expires_at.isoformat()}", data, until=until)


async def on_repeated(uow: UnitOfWork, envelope: Envelope, data: RegistrationRepeated) -> None:
    # at most once a (Danish) day: registering someone's address over and over cannot flood
    # them; their session choices, if any, are those of their registration
    day = envelope.time.astimezone(LOCAL_TIME).date().isoformat()
    await _queue(uow, "repeated", f"repeated:{day}", data)


async def on_told(uow: UnitOfWork, _envelope: Envelope, data: AttendeeTold) -> None:
    kind = "rescheduled" if data.change == "rescheduled" else "event_cancelled"
    assert data.event is not None
    # once per change: a second move is a second message
    dedupe = f"{kind}:{data.event.starts_at.isoformat()}"
    await _queue(uow, kind, dedupe, data, reason=data.reason)


async def on_reminder(uow: UnitOfWork, _envelope: Envelope, data: ReminderDue) -> None:
    assert data.event is not None
    # once per reminder and date: a moved event is reminded of again
    dedupe = f"reminder:{data.days_before}:{data.event.starts_at.isoformat()}"
    await _queue(uow, "reminder", dedupe, data)


def on_survey_requested(settings: NotificationsSettings) -> Callable:
    """The survey e-mail: a personal, single-use link to the metrics service's answer page
    for the event's open survey — sent once the event has one that takes answers, held
    until then, never sent once it has closed."""

    async def handle(uow: UnitOfWork, _envelope: Envelope, data: SurveyRequested) -> None:
        link = survey_link(
            settings.survey_url, settings.link_key, data.event_id, data.registration_id
        )
        gate = await _gate(uow, data.event_id)
        if gate.survey_id is None:
            await _queue(uow, "survey", "survey", data, link, status=DeliveryStatus.HELD)
        elif gate.closes_at is not None and gate.closes_at <= uow.now():
            await _queue(uow, "survey", "survey", data, link, status=DeliveryStatus.CANCELLED)
        else:
            await _queue(uow, "survey", "survey", data, link, at=gate.opens_at)

    return handle


async def on_survey_opened(uow: UnitOfWork, _envelope: Envelope, data: SurveyOpened) -> None:
    """The event's survey takes answers: its held survey e-mails go, at `opens_at` if later.
    (Metrics restates its open surveys at every start: a second copy changes nothing.)"""
    if data.event_id is None:
        return  # an activity's survey: its links are issued by whoever runs it
    gate = await _gate(uow, data.event_id)
    gate.survey_id, gate.opens_at, gate.closes_at = data.survey_id, data.opens_at, data.closes_at
    at = _not_before(uow, data.opens_at)
    await uow.session.execute(
        update(Delivery)
        .where(*_survey_mails(data.event_id, DeliveryStatus.HELD))
        .values(status=DeliveryStatus.PENDING, scheduled_for=at, next_attempt_at=at)
    )


async def on_survey_closed(uow: UnitOfWork, _envelope: Envelope, data: SurveyClosed) -> None:
    """The survey takes no more answers: its e-mails not yet sent are not sent."""
    if data.event_id is None:
        return
    gate = await _gate(uow, data.event_id)
    if gate.survey_id not in (None, data.survey_id):
        return  # the event has another survey open now: its e-mails stand
    gate.survey_id = gate.opens_at = gate.closes_at = None
    await uow.session.execute(
        update(Delivery)
        .where(*_survey_mails(data.event_id, DeliveryStatus.HELD, DeliveryStatus.PENDING))
        .values(status=DeliveryStatus.CANCELLED, lease=None)
    )


async def _gate(uow: UnitOfWork, event_id: str) -> SurveyGate:
    """The event's survey gate, made if new and locked (the insert takes SQLite's write lock,
    FOR UPDATE PostgreSQL's row lock): the survey's request, opening and closing take turns."""
    await uow.session.execute(
        upsert(uow.session, SurveyGate).values(event_id=event_id).on_conflict_do_nothing()
    )
    gate = await uow.session.scalar(
        select(SurveyGate)
        .where(SurveyGate.event_id == event_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert gate is not None
    return gate


def _survey_mails(event_id: str, *statuses: DeliveryStatus) -> list[ColumnElement[bool]]:
    return [
        Delivery.kind == "survey",
        Delivery.event_id == event_id,
        Delivery.status.in_(statuses),
    ]


async def on_invited(uow: UnitOfWork, _envelope: Envelope, data: Invited) -> None:
    await _queue(uow, "invitation", "invitation", data)


async def on_audience_invited(uow: UnitOfWork, _envelope: Envelope, data: AudienceInvited) -> None:
    """One invitation per contact the audience's lawful basis lets us e-mail (on consent,
    who gave it; on the public task, everyone) and whose address is not suppressed, in their
    own language, with the event's page: contacts are known here, not in the events service.
    Each is the contact's delivery, so it carries their one-click unsubscribe link and a
    suppression before it goes stops it."""
    basis = await lists.basis_of(uow.session, data.audience_id)
    contacts = await uow.session.scalars(
        select(Contact)
        .join(AudienceMember, AudienceMember.contact_id == Contact.id)
        .outerjoin(Suppression, Suppression.email_hash == Contact.email_hash)
        .where(
            AudienceMember.audience_id == data.audience_id,
            lists.reachable(ChannelKind.EMAIL, basis),
            Suppression.email_hash.is_(None),  # unsubscribed, bounced or complained
        )
        .order_by(Contact.id)
    )
    for contact in contacts:
        invitation = Invited(
            invitation_id=contact.id,
            event_id=data.event_id,
            plan_id=data.plan_id,
            attendee=Attendee(
                name=contact.name,
                email=contact.email,
                language=contact.language,
                link=data.event.link,
            ),
            event=data.event,
        )
        await _queue(
            uow,
            "invitation",
            f"audience-invitation:{data.event_id}",
            invitation,
            contact_id=contact.id,
        )


async def on_erased(uow: UnitOfWork, _envelope: Envelope, data: AttendeeErased) -> None:
    """The person's data was erased in the events service: erase our copies — the address,
    the name, and the text that greeted them and held their link. The ledger keeps that a
    message of that kind went, and when."""
    await _erase(uow, Delivery.dedupe_key.like(f"%:{data.registration_id}"), data.event_id)


async def on_invitee_erased(uow: UnitOfWork, _envelope: Envelope, data: InviteeErased) -> None:
    await _erase(uow, Delivery.dedupe_key == f"invitation:{data.invitation_id}", data.event_id)


async def _erase(uow: UnitOfWork, which: ColumnElement[bool], event_id: str) -> None:
    """Their copies erased; what was still to go to them (pending, or held for a survey)
    is cancelled, as there is nobody left to send it to."""
    await uow.session.execute(
        update(Delivery)
        .where(
            Delivery.event_id == event_id,
            which,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.HELD]),
        )
        .values(status=DeliveryStatus.CANCELLED, lease=None)
    )
    await uow.session.execute(
        update(Delivery)
        .where(Delivery.event_id == event_id, which)
        .values(
            recipient_name=None, recipient_email=None, body="", attachment=None, last_error=None
        )
    )


def handlers(settings: NotificationsSettings) -> dict[type[EventData], Callable]:
    return {
        **HANDLERS,
        SurveyRequested: on_survey_requested(settings),
        SurveyOpened: on_survey_opened,
        SurveyClosed: on_survey_closed,
    }


HANDLERS: dict[type[EventData], Callable] = {
    RegistrationConfirmed: _simple("confirmed"),
    RegistrationPromoted: _simple("confirmed"),
    RegistrationWaitlisted: _simple("waitlisted"),
    RegistrationRepeated: on_repeated,
    RegistrationOffered: on_offered,
    RegistrationOfferExpired: _simple("offer_expired"),
    RegistrationCancelled: _simple("cancelled"),
    AttendeeTold: on_told,
    ReminderDue: on_reminder,
    Invited: on_invited,
    AudienceInvited: on_audience_invited,
    AttendeeErased: on_erased,
    InviteeErased: on_invitee_erased,
}
