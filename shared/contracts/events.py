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
    """The event was cancelled with its activity; registrants are to be told."""

    type = "event.cancelled.v1"
    topic = topics.EVENTS

    event_id: str
    activity_id: str
    plan_id: str
    reason: str
