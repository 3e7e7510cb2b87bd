"""The planning API's request and response models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.planning.domain import AudienceKind, GatekeeperRole, PlanStatus
from shared.contracts.vocabulary import ActivityKind, ChannelKind, EventFormat
from shared.schemas import ApiInput


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PlanCreate(ApiInput):
    title: str = Field(min_length=1, max_length=300, examples=["Kommune forfra"])
    owner: str = Field(min_length=1, max_length=200, examples=["Borgmesterens Afdeling"])
    sender: str = Field(min_length=1, max_length=200, examples=["Aarhus Kommune"])


class GoalCreate(ApiInput):
    description: str = Field(
        min_length=1, max_length=2000, examples=["The newsletter Tendens reaches the job centres"]
    )
    metric: str = Field(min_length=1, max_length=200, examples=["newsletter recipients"])
    target: float = Field(ge=0, examples=[1000])
    unit: str = Field(min_length=1, max_length=50, examples=["recipients", "%"])
    deadline: date | None = Field(None, examples=["2015-12-31"])


class AudienceCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Municipal directors"])
    kind: AudienceKind = Field(
        AudienceKind.OTHER, description="Citizens get a plain-language check on messages."
    )
    needs: str = Field("", max_length=2000, examples=["Professional and usable"])


class PlanAudienceAdd(ApiInput):
    """Either `audience_id` of an existing audience (so that plans reaching the same people can
    be coordinated), or `name` (with `kind`, `needs`) to create a new one."""

    audience_id: str | None = None
    name: str | None = Field(
        None, min_length=1, max_length=200, validate_default=True, examples=["Municipal directors"]
    )
    kind: AudienceKind = Field(
        AudienceKind.OTHER, description="Citizens get a plain-language check on messages."
    )
    needs: str = Field("", max_length=2000, examples=["Professional and usable"])

    @field_validator("name", mode="after")
    @classmethod
    def _name_or_audience_id(cls, name: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("audience_id") is None) == (name is None):
            raise ValueError(
                "give a name for a new audience, or the audience_id of an existing one"
            )
        return name


class MessageCreate(ApiInput):
    audience_id: str
    subject: str = Field(
        min_length=1,
        max_length=300,
        pattern=r"^[^\r\n]*$",
        description="One line: it becomes an e-mail subject.",
    )
    body: str = Field(min_length=1, max_length=20000)


class ChannelCreate(ApiInput):
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200, examples=["Nyhedsbrev"])


class EventDetailsIn(ApiInput):
    format: EventFormat
    capacity: int = Field(gt=0, le=100_000)
    venue: str | None = Field(None, max_length=300)


class ActivityCreate(ApiInput):
    title: str = Field(min_length=1, max_length=300)
    kind: ActivityKind
    starts_at: AwareDatetime
    audience_id: str | None = None
    message_id: str | None = None
    channel_id: str | None = None
    event: EventDetailsIn | None = None


class GoalPublic(_Out):
    id: str
    description: str
    metric: str
    target: float
    unit: str
    deadline: date | None


class AudiencePublic(_Out):
    id: str
    name: str
    kind: AudienceKind
    needs: str


class MessagePublic(_Out):
    id: str
    audience_id: str
    subject: str
    body: str
    lix: float = Field(description="LIX readability index of the body (below 35: easy).")
    readability_warning: str | None = Field(
        description="Set when a message to citizens reads too hard."
    )


class ChannelPublic(_Out):
    id: str
    kind: ChannelKind
    name: str


class ActivityPublic(_Out):
    id: str
    title: str
    kind: ActivityKind
    starts_at: datetime
    audience_id: str | None
    message_id: str | None
    channel_id: str | None
    event_format: EventFormat | None
    capacity: int | None
    venue: str | None
    cancelled_at: datetime | None
    event_id: str | None = Field(None, description="The event the events service created.")
    deliveries_sent: int = 0
    deliveries_failed: int = 0


class PlanSummary(_Out):
    id: str
    title: str
    owner: str
    sender: str
    status: PlanStatus
    version: int
    created_at: datetime
    updated_at: datetime
    approved_by: str | None
    approved_at: datetime | None


class Overlap(BaseModel):
    """An activity of this plan and one of another plan reach the same audience close together."""

    activity_id: str
    audience_id: str
    other_plan_id: str
    other_plan_title: str
    other_activity_id: str
    other_activity_title: str
    other_starts_at: datetime
    days_apart: float


class ActivityChange(ApiInput):
    """Required for an approved plan (a deviation): why, and who in management agreed."""

    reason: str | None = Field(None, min_length=1, max_length=2000)
    agreed_by: str | None = Field(None, min_length=1, max_length=200, examples=["Direktionen"])


class Reschedule(ActivityChange):
    starts_at: AwareDatetime


class DeviationPublic(_Out):
    id: str
    activity_id: str
    change: str
    before: str
    after: str
    reason: str
    agreed_by: str
    recorded_by: str
    recorded_at: datetime


class PlanDetail(PlanSummary):
    overlaps: list[Overlap] = Field(
        description="Clashes with other plans' activities (same audience, same weeks)."
    )
    goals: list[GoalPublic]
    audiences: list[AudiencePublic]
    messages: list[MessagePublic]
    channels: list[ChannelPublic]
    activities: list[ActivityPublic]
    deviations: list[DeviationPublic]


class CalendarEntry(BaseModel):
    """One activity on the calendar across plans."""

    activity_id: str
    title: str
    kind: ActivityKind
    starts_at: datetime
    plan_id: str
    plan_title: str
    plan_status: PlanStatus
    audience: str | None
    channel: ChannelKind | None


class StakeholderCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Sport og Fritid (MKB)"])
    organisation: str = Field("", max_length=200, examples=["Aarhus Kommune"])
    gatekeeper: GatekeeperRole = GatekeeperRole.NONE
    relays_to: str = Field("", max_length=2000, examples=["staff, local employment councils"])


class RelationCreate(ApiInput):
    other_id: str
    description: str = Field("", max_length=2000, examples=["Meets at the school-district board"])


class DialogueCreate(ApiInput):
    held_on: date
    participants: str = Field(min_length=1, max_length=2000)
    outcome: str = Field(min_length=1, max_length=20000)
    follow_up: str = Field("", max_length=20000)
    follow_up_by: date | None = None


class DialoguePublic(_Out):
    id: str
    held_on: date
    participants: str
    outcome: str
    follow_up: str
    follow_up_by: date | None
    logged_by: str


class RelationPublic(BaseModel):
    stakeholder_id: str
    name: str
    description: str


class StakeholderPublic(_Out):
    id: str
    name: str
    organisation: str
    gatekeeper: GatekeeperRole
    relays_to: str
    created_at: datetime


class StakeholderDetail(StakeholderPublic):
    relations: list[RelationPublic]
    dialogues: list[DialoguePublic]
