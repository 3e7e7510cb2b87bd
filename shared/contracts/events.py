"""Events published by the events service."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared import topics
from shared.contracts.envelope import EventData, event
from shared.contracts.vocabulary import EventFormat


@event
class EventCreated(EventData):
    """The events service created an event for an approved event-kind activity."""

    type = "event.created.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str
    plan_id: str
    title: str
    format: EventFormat
    starts_at: datetime
    capacity: int


@event
class EventRescheduled(EventData):
    """The event moved: with its activity (a deviation recorded in planning), or by its
    organiser. `activity_id` and `plan_id` are null for an organiser's own event."""

    type = "event.rescheduled.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str | None
    plan_id: str | None
    previous_starts_at: datetime
    starts_at: datetime
    reason: str


@event
class EventCancelled(EventData):
    """The event was cancelled, with its activity or by its organiser; registrants are to be
    told. `activity_id` and `plan_id` are null for an event an organiser set up directly."""

    type = "event.cancelled.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str | None
    plan_id: str | None
    reason: str


@event
class EventPublished(EventData):
    """The event was announced: it takes registrations from now on."""

    type = "event.published.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str | None
    plan_id: str | None
    title: str
    format: EventFormat
    starts_at: datetime
    ends_at: datetime | None
    capacity: int
    language: str


@event
class EventCompleted(EventData):
    """The event was held; the counts are final."""

    type = "event.completed.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str | None
    plan_id: str | None
    confirmed: int
    checked_in: int


class Attendee(BaseModel):
    """Who to write to, so that the notifications service can: personal data, on the broker
    only as long as the topic keeps it. `link` is the person's own page (see, cancel,
    accept a seat)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    email: str
    language: Literal["da", "en"]
    link: str


class EventSummary(BaseModel):
    """What a message to an attendee says about the event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    title: str
    starts_at: datetime
    ends_at: datetime | None
    venue: str | None
    address: str | None
    link: str  # the event's public page


class PersonalMessage(EventData):
    """Something to tell one person about one event: whom (absent once their data is
    erased) and what about."""

    event_id: str
    plan_id: str | None
    attendee: Attendee | None = None
    event: EventSummary | None = None

    @property
    def person_id(self) -> str:
        """The registration or invitation the message is about."""
        raise NotImplementedError


class RegistrationEvent(PersonalMessage):
    registration_id: str

    @property
    def person_id(self) -> str:
        return self.registration_id


@event
class RegistrationConfirmed(RegistrationEvent):
    """A registration got a seat at once."""

    type = "registration.confirmed.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationWaitlisted(RegistrationEvent):
    """The event was full: the registration joined the waitlist."""

    type = "registration.waitlisted.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationRepeated(RegistrationEvent):
    """Someone registered again with an address already registered for the event (with a
    seat, an offer or a place in line): its owner is sent their page's link again. Nothing
    else changes, and the public answer is the same as to a new registration, so that
    registering never tells anyone who else has registered."""

    type = "registration.repeated.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationOffered(RegistrationEvent):
    """A seat came free and is held for the first in line until `hold_expires_at`."""

    type = "registration.offered.v1"
    topic = topics.REGISTRATIONS

    hold_expires_at: datetime


@event
class RegistrationPromoted(RegistrationEvent):
    """An offered seat was accepted: the registration is confirmed."""

    type = "registration.promoted.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationOfferExpired(RegistrationEvent):
    """An offer was not accepted in time; the seat passes on to the next in line."""

    type = "registration.offer_expired.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationCancelled(RegistrationEvent):
    """A registration was cancelled by the attendee or the organiser; `previous_status` says
    whether a seat (confirmed, offered) or a place in line (waitlisted) came free."""

    type = "registration.cancelled.v1"
    topic = topics.REGISTRATIONS

    previous_status: str


@event
class AttendeeCheckedIn(RegistrationEvent):
    """A confirmed attendee was checked in (once, at the time of the first scan)."""

    type = "attendee.checked_in.v1"
    topic = topics.REGISTRATIONS

    checked_in_at: datetime


@event
class AttendeeTold(RegistrationEvent):
    """A registered or waitlisted person is to be told that their event moved or was
    cancelled (one per person, after `event.rescheduled.v1` or `event.cancelled.v1`)."""

    type = "attendee.told.v1"
    topic = topics.REGISTRATIONS

    change: Literal["rescheduled", "cancelled"]
    previous_starts_at: datetime | None = None
    reason: str


@event
class ReminderDue(RegistrationEvent):
    """An attendee with a seat is to be reminded, `days_before` the event."""

    type = "reminder.due.v1"
    topic = topics.REGISTRATIONS

    days_before: int


@event
class SurveyRequested(RegistrationEvent):
    """The day after the event, an attendee who checked in is asked how it went."""

    type = "survey.requested.v1"
    topic = topics.REGISTRATIONS


@event
class AttendeeErased(RegistrationEvent):
    """A person's data was erased from this registration (their name and address are gone;
    the registration still counts). Services that keep a copy erase theirs."""

    type = "attendee.erased.v1"
    topic = topics.REGISTRATIONS


@event
class Invited(PersonalMessage):
    """A named person was invited; `attendee.link` is their personal page to answer."""

    type = "attendee.invited.v1"
    topic = topics.REGISTRATIONS

    invitation_id: str

    @property
    def person_id(self) -> str:
        return self.invitation_id


@event
class RsvpRecorded(EventData):
    """An invited person answered yes, no or maybe; yes registered them
    (`registration_id`: a seat or the waitlist, as its own registration event says)."""

    type = "rsvp.recorded.v1"
    topic = topics.REGISTRATIONS

    invitation_id: str
    event_id: str
    plan_id: str | None
    answer: Literal["yes", "no", "maybe"]
    registration_id: str | None


@event
class InviteeErased(EventData):
    """A person's data was erased from this invitation: services that keep a copy (the
    invitation e-mail) erase theirs."""

    type = "invitation.erased.v1"
    topic = topics.REGISTRATIONS

    invitation_id: str
    event_id: str


@event
class AudienceInvited(EventData):
    """An audience (planning's, whose contacts the notifications service keeps) is invited
    to an open event: each of its contacts who consented to e-mail gets the event's page."""

    type = "event.audience_invited.v1"
    topic = topics.REGISTRATIONS

    event_id: str
    plan_id: str | None
    audience_id: str
    language: Literal["da", "en"]
    event: EventSummary
