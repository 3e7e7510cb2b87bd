"""The notifications API's request and response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, StrictBool

from services.notifications.domain import DeliveryStatus
from shared.contracts.vocabulary import ChannelKind
from shared.schemas import ApiInput, ApiOutput, MailAddress, SingleLine


class ContactCreate(ApiInput):
    email: MailAddress
    name: SingleLine = Field(min_length=1, max_length=200)
    email_consent: StrictBool = Field(description="The contact agreed to receive e-mail.")
    audience_ids: list[str] = Field(default_factory=list, max_length=100)


class ContactPublic(ApiOutput):
    id: str
    email: str
    name: str
    email_consent: bool
    audience_ids: list[str]
    created_at: datetime


class DeliveryPublic(ApiOutput):
    """One message to one person: an activity's issue to a contact (`activity_id`,
    `contact_id`) or a message to an event's attendee (`event_id`)."""

    id: str
    kind: str
    activity_id: str | None
    plan_id: str | None
    contact_id: str | None
    event_id: str | None
    channel: ChannelKind
    subject: str
    status: DeliveryStatus
    scheduled_for: datetime
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
