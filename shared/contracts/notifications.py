"""Events published by the notifications service."""

from datetime import datetime

from shared import topics
from shared.contracts.envelope import EventData, event
from shared.contracts.vocabulary import ChannelKind


@event
class DeliverySent(EventData):
    """An e-mail of a communication activity was accepted by the SMTP server."""

    type = "delivery.sent.v1"
    topic = topics.DELIVERIES

    delivery_id: str
    activity_id: str
    plan_id: str
    contact_id: str
    channel: ChannelKind
    sent_at: datetime


@event
class DeliveryFailed(EventData):
    """A delivery was given up after its bounded attempts; `reason` is the last error."""

    type = "delivery.failed.v1"
    topic = topics.DELIVERIES

    delivery_id: str
    activity_id: str
    plan_id: str
    contact_id: str
    channel: ChannelKind
    attempts: int
    reason: str
