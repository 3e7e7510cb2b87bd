"""The notifications API's request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.notifications.contacts import ContactDetails
from services.notifications.domain import DeliveryStatus, LawfulBasis, SendStatus
from services.notifications.segments import Rule
from shared.contracts.vocabulary import MAX_SMS, ChannelKind
from shared.schemas import ApiInput, ApiOutput, MailAddress, SingleLine
from shared.time import PlanDatetime


class ContactCreate(ContactDetails):
    audience_ids: list[str] = Field(default_factory=list, max_length=100)


class ConsentPublic(ApiOutput):
    channel: str
    granted: bool
    source: str
    recorded_at: datetime


class ContactPublic(ApiOutput):
    id: str
    email: str
    name: str
    phone: str | None
    language: str
    email_consent: bool
    sms_consent: bool
    sms_stopped_at: datetime | None = Field(
        description="When their number replied STOP (and not START since): no text to it."
    )
    attributes: dict[str, str]
    consent_history: list[ConsentPublic]
    audience_ids: list[str]
    created_at: datetime


class ImportPublic(ApiOutput):
    """A contact import: how far it has come, and how many rows it took or refused (each
    refused row's line and reason: `errors_url`)."""

    id: str
    status: Literal["queued", "running", "completed"]
    audience_ids: list[str]
    total_rows: int
    processed_rows: int
    imported: int
    rejected: int
    percent_done: float
    errors_url: str
    created_at: datetime
    completed_at: datetime | None


class DeliveryPublic(ApiOutput):
    """One message to one person: an activity's issue to a contact (`activity_id`,
    `contact_id`) or a message to an event's attendee (`event_id`)."""

    id: str
    kind: str
    send_id: str | None
    activity_id: str | None
    plan_id: str | None
    contact_id: str | None
    event_id: str | None
    webhook_id: str | None
    channel: ChannelKind
    subject: str | None
    status: DeliveryStatus
    scheduled_for: datetime
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    to: str | None = Field(
        None,
        description="Whom it is for: the address (a text: the phone) and name — shown to "
        "communicators, who resend to who failed; analysts see the ids only.",
    )


SendChannel = Literal[
    ChannelKind.EMAIL, ChannelKind.NEWSLETTER, ChannelKind.SMS, ChannelKind.WEBHOOK
]


class SendCreate(ApiInput):
    """A message to an audience or a segment (give one of them), now or at `scheduled_for`:
    to each of its contacts the channel reaches on the audience's lawful basis (on consent:
    those who consented to the channel). A text message (`sms`) is its `body` as written, to
    each contact's phone, outside the SMS quiet hours; its `subject` names it in lists. On
    `webhook`, the subject and body are posted to each system subscribed to the audience
    (/v1/webhooks)."""

    audience_id: str | None = Field(None, min_length=1, max_length=36)
    segment_id: str | None = Field(None, min_length=1, max_length=36)
    channel: SendChannel = ChannelKind.EMAIL
    subject: SingleLine = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=100_000)
    template: TemplateName = Field(
        "standard",
        description="How an e-mail reaches each contact, in their language (not for SMS).",
    )
    scheduled_for: PlanDatetime | None = Field(None, description="When to send; now if left out.")

    @model_validator(mode="after")
    def _fits_its_channel(self) -> SendCreate:
        if (self.audience_id is None) == (self.segment_id is None):
            raise ValueError("give an audience_id or a segment_id (one of them)")
        if self.channel == ChannelKind.SMS and len(self.body) > MAX_SMS:
            raise ValueError(f"a text message's body is at most {MAX_SMS} characters")
        if self.channel == ChannelKind.WEBHOOK and self.segment_id is not None:
            raise ValueError("a webhook send goes to the systems subscribed to an audience")
        return self


TemplateName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,59}$")]


class TemplateBody(ApiInput):
    """Jinja2 for an e-mail's subject, plain text and (optionally) HTML. They may use
    `contact.name`, `contact.language`, `message.subject`, `message.body` and
    `unsubscribe_url`."""

    subject: SingleLine = Field(min_length=1, max_length=300)
    text: str = Field(min_length=1, max_length=100_000)
    html: str | None = Field(None, max_length=200_000)


class TemplatePublic(ApiOutput):
    name: str
    language: Literal["da", "en"]
    subject: str
    text: str
    html: str | None
    built_in: bool


class Preview(ApiOutput):
    """A template rendered with sample data."""

    subject: str
    text: str
    html: str | None


class SendCounts(ApiOutput):
    pending: int = 0
    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    bounced: int = 0
    cancelled: int = 0


class SendPublic(ApiOutput):
    """A send and its ledger in numbers. `recipients` is whom it reaches: before it starts,
    its audience or segment as it stands; counted as its fan-out starts; exact once that ends.
    `percent_done` is the share no longer pending."""

    id: str
    activity_id: str | None
    plan_id: str | None
    audience_id: str | None
    segment_id: str | None
    lawful_basis: LawfulBasis | None = Field(description="Fixed when its fan-out starts.")
    channel: ChannelKind
    subject: str
    template: str
    status: SendStatus
    scheduled_for: datetime
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    fanned_out: bool
    recipients: int
    counts: SendCounts
    percent_done: float
    sms_parts: int | None = Field(
        description="An SMS send's text: the messages it goes as to each recipient, each billed "
        "as one (160 GSM characters in one, 153 a part beyond; 70 of other text, 67 a part)."
    )


class AudienceBasis(ApiInput):
    """What an audience is sent on: `consent` (the default) or `public_task` (GDPR art.
    6(1)(e)), with a note of the authority's legal ground (e.g. the act and section)."""

    lawful_basis: LawfulBasis
    basis_note: SingleLine = Field("", max_length=300)

    @model_validator(mode="after")
    def _grounded(self) -> AudienceBasis:
        if self.lawful_basis == LawfulBasis.PUBLIC_TASK and not self.basis_note.strip():
            raise ValueError("name the legal ground of the public task in basis_note")
        return self


class BasisRecordPublic(ApiOutput):
    lawful_basis: LawfulBasis
    basis_note: str
    set_by: str
    recorded_at: datetime


class AudiencePublic(ApiOutput):
    """An audience as this service sends to it: its basis (and each earlier setting of it,
    oldest first), its members, and how many of them each channel reaches on it now."""

    audience_id: str
    lawful_basis: LawfulBasis
    basis_note: str
    updated_at: datetime | None
    basis_history: list[BasisRecordPublic]
    members: int
    reachable: dict[str, int] = Field(description="By channel: email, sms.")


class SegmentCreate(ApiInput):
    """The contacts of an audience whose attributes meet every rule (sent on the audience's
    lawful basis: consent given for a list is not stretched to every contact we hold)."""

    name: SingleLine = Field(min_length=1, max_length=200)
    audience_id: str = Field(min_length=1, max_length=36)
    rules: list[Rule] = Field(min_length=1, max_length=20)


class SegmentPublic(ApiOutput):
    id: str
    name: str
    audience_id: str
    rules: list[Rule]
    contacts: int = Field(description="Contacts it holds now, whatever their consent.")
    created_at: datetime


class WebhookCreate(ApiInput):
    """A system to post an audience's webhook sends to."""

    audience_id: str = Field(min_length=1, max_length=36)
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="https to a public host (http and local hosts only where allowed).",
    )
    description: SingleLine = Field("", max_length=200)


class WebhookPublic(ApiOutput):
    id: str
    audience_id: str
    url: str
    description: str
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="Verifies each post's webhook-signature (Standard Webhooks); shown only now."
    )


class Requeued(ApiOutput):
    requeued: int = Field(description="Failed deliveries queued to be sent again.")


class ProviderReport(ApiInput):
    """A bounce or complaint as a mail provider's webhook posts it (Postmark's field names;
    the many other fields such a webhook carries are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    record_type: Literal["Bounce", "SpamComplaint"] = Field(alias="RecordType")
    type: str = Field("", alias="Type", max_length=60, description="e.g. HardBounce, SoftBounce")
    email: MailAddress = Field(alias="Email")
    message_id: str | None = Field(None, alias="MessageID", max_length=300)


class BounceResult(ApiOutput):
    reports: int = Field(description="Recipients reported.")
    suppressed: int = Field(description="Addresses suppressed (hard bounces and complaints).")
    bounced: int = Field(description="Sent deliveries now marked bounced.")


class SmsReply(BaseModel):
    """A text a person sent back, as GatewayAPI forwards it (its MO webhook: its other
    fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: int = Field(description="The gateway's id of the reply.")
    msisdn: int = Field(gt=0, lt=10**15, description="Who sent it: country code and number.")
    message: str = Field(max_length=2000)


class SmsReplyResult(ApiOutput):
    stopped: int = Field(0, description="A STOP: contacts of the number, now texted no more.")
    resumed: int = Field(0, description="A START: contacts of the number given SMS consent.")
    repeated: bool = Field(
        False, description="The reply was acted on before (by its id): nothing changed now."
    )


class PersonQuery(ApiInput):
    """A person, by their e-mail address (in the body: an address in a URL ends up in logs)."""

    email: MailAddress


class ContactExport(ApiOutput):
    contact: ContactPublic
    messages: list[DeliveryPublic]
    suppressed: str | None = Field(description="unsubscribed, bounced or complained; or none")


class Erased(ApiOutput):
    deliveries_kept_without_recipient: int
