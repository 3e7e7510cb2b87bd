"""Events published by the notifications service."""

from datetime import datetime

from shared import topics
from shared.contracts.envelope import EventData, event
from shared.contracts.vocabulary import ChannelKind


@event
class DeliverySent(EventData):
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
    type = "delivery.failed.v1"
    topic = topics.DELIVERIES

    delivery_id: str
    activity_id: str
    plan_id: str
    contact_id: str
    channel: ChannelKind
    attempts: int
    reason: str
