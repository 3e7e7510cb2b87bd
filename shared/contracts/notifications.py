"""Events published by the notifications service."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict

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


@event
class DeliveryBounced(EventData):
    """A sent e-mail of a communication activity came back for good (a hard bounce): it did
    not reach its contact after all. Metrics takes it off the activity's reach."""

    type = "delivery.bounced.v1"
    topic = topics.DELIVERIES

    delivery_id: str
    activity_id: str
    plan_id: str
    contact_id: str
    channel: ChannelKind
    bounced_at: datetime


class SendCounts(BaseModel):
    """A send's deliveries by status."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    bounced: int = 0
    cancelled: int = 0


@event
class SendCompleted(EventData):
    """Nothing of a send is pending any more: each of its deliveries was sent, failed or
    suppressed. Again after a resend to the failed, with the new counts."""

    type = "send.completed.v1"
    topic = topics.DELIVERIES

    send_id: str
    activity_id: str | None
    plan_id: str | None
    channel: ChannelKind
    counts: SendCounts
    completed_at: datetime


@event
class ContactErased(EventData):
    """A person's data was erased in the notifications service, on their request: every
    service that keeps something about them erases it too. Carries only the SHA-256 of the
    address (trimmed, lower case), never the address."""

    type = "contact.erased.v1"
    topic = topics.CONTACTS

    email_hash: str
    erased_at: datetime
