"""Events published by the events service."""

from datetime import datetime

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
    """The event moved with its activity (a deviation recorded in planning)."""

    type = "event.rescheduled.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str
    plan_id: str
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


class _RegistrationEvent(EventData):
    registration_id: str
    event_id: str
    plan_id: str | None


@event
class RegistrationConfirmed(_RegistrationEvent):
    """A registration got a seat at once."""

    type = "registration.confirmed.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationWaitlisted(_RegistrationEvent):
    """The event was full: the registration joined the waitlist."""

    type = "registration.waitlisted.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationOffered(_RegistrationEvent):
    """A seat came free and is held for the first in line until `hold_expires_at`."""

    type = "registration.offered.v1"
    topic = topics.REGISTRATIONS

    hold_expires_at: datetime


@event
class RegistrationPromoted(_RegistrationEvent):
    """An offered seat was accepted: the registration is confirmed."""

    type = "registration.promoted.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationOfferExpired(_RegistrationEvent):
    """An offer was not accepted in time; the seat passes on to the next in line."""

    type = "registration.offer_expired.v1"
    topic = topics.REGISTRATIONS


@event
class RegistrationCancelled(_RegistrationEvent):
    """A registration was cancelled by the attendee or the organiser; `previous_status` says
    whether a seat (confirmed, offered) or a place in line (waitlisted) came free."""

    type = "registration.cancelled.v1"
    topic = topics.REGISTRATIONS

    previous_status: str


@event
class AttendeeCheckedIn(_RegistrationEvent):
    """A confirmed attendee was checked in (once, at the time of the first scan)."""

    type = "attendee.checked_in.v1"
    topic = topics.REGISTRATIONS

    checked_in_at: datetime
