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
