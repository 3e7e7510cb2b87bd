"""The plans API's request and response models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from services.planning.domain import AudienceKind, PlanStatus
from shared.contracts.vocabulary import ActivityKind, ChannelKind, EventFormat
from shared.schemas import ApiInput, SingleLine
from shared.schemas import ApiOutput as _Out
from shared.time import PlanDate, PlanDatetime


class AgreedChange(ApiInput):
    """A change to an approved plan is a deviation: give why, and who in management agreed.
    (Not needed while the plan is a draft or in review.)"""

    reason: str | None = Field(None, min_length=1, max_length=2000)
    agreed_by: str | None = Field(None, min_length=1, max_length=200, examples=["Direktionen"])


DEVIATION_FIELDS = frozenset(AgreedChange.model_fields)


class PlanCreate(ApiInput):
    title: str = Field(min_length=1, max_length=300, examples=["Kommune forfra"])
    owner: str = Field(min_length=1, max_length=200, examples=["Borgmesterens Afdeling"])
    sender: str = Field(
        min_length=1,
        max_length=200,
        examples=["Aarhus Kommune"],
        description="Who speaks: one organisation may keep e.g. its Council and Region apart.",
    )
    track_id: str | None = Field(None, description="The strategy track or sub-track it serves.")
    period_start: PlanDate | None = None
    period_end: PlanDate | None = None


class PlanUpdate(AgreedChange):
    """The fields to change; those left out stay as they are (`track_id`, `period_start` and
    `period_end` can be set to null)."""

    title: str | None = Field(None, min_length=1, max_length=300)
    owner: str | None = Field(None, min_length=1, max_length=200)
    sender: str | None = Field(None, min_length=1, max_length=200)
    track_id: str | None = None
    period_start: PlanDate | None = None
    period_end: PlanDate | None = None

    @field_validator("title", "owner", "sender", mode="after")
    @classmethod
    def _not_null(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            raise ValueError(f"{info.field_name} cannot be removed")
        return value


class GoalCreate(AgreedChange):
    description: str = Field(
        min_length=1, max_length=2000, examples=["The newsletter Tendens reaches the job centres"]
    )
    metric: str = Field(min_length=1, max_length=200, examples=["newsletter recipients"])
    target: float = Field(ge=0, examples=[1000])
    unit: str = Field(min_length=1, max_length=50, examples=["recipients", "%"])
    deadline: PlanDate | None = Field(None, examples=["2015-12-31"])


class AudienceCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Municipal directors"])
    kind: AudienceKind = Field(
        AudienceKind.OTHER, description="Citizens get a plain-language check on messages."
    )
    needs: str = Field(
        "", max_length=2000, description="Tone and demands.", examples=["Professional and usable"]
    )
    preferred_channels: list[ChannelKind] = Field(
        default_factory=list, max_length=12, examples=[["intranet", "newsletter"]]
    )


class PlanAudienceAdd(AgreedChange):
    """Either `audience_id` of an existing audience (so that plans reaching the same people can
    be coordinated), or `name` (with `kind`, `needs`) to create a new one."""

    audience_id: str | None = None
    name: str | None = Field(
        None, min_length=1, max_length=200, validate_default=True, examples=["Municipal directors"]
    )
    kind: AudienceKind = Field(
        AudienceKind.OTHER, description="Citizens get a plain-language check on messages."
    )
    needs: str = Field(
        "", max_length=2000, description="Tone and demands.", examples=["Professional and usable"]
    )
    preferred_channels: list[ChannelKind] = Field(
        default_factory=list, max_length=12, examples=[["intranet", "newsletter"]]
    )

    @field_validator("name", mode="after")
    @classmethod
    def _name_or_audience_id(cls, name: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("audience_id") is None) == (name is None):
            raise ValueError(
                "give a name for a new audience, or the audience_id of an existing one"
            )
        return name


class MessageCreate(AgreedChange):
    audience_id: str
    subject: SingleLine = Field(
        min_length=1, max_length=300, description="One line: it becomes an e-mail subject."
    )
    body: str = Field(min_length=1, max_length=20000)


class ChannelCreate(AgreedChange):
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=200, examples=["Nyhedsbrev"])


class EventDetailsIn(ApiInput):
    format: EventFormat
    capacity: int = Field(gt=0, le=100_000)
    venue: str | None = Field(None, max_length=300)


class ActivityCreate(AgreedChange):
    title: str = Field(min_length=1, max_length=300)
    kind: ActivityKind
    owner: str | None = Field(None, min_length=1, max_length=200, examples=["Kommunikation"])
    starts_at: PlanDatetime
    recurrence: str | None = Field(
        None,
        max_length=500,
        pattern=r"^[^\r\n]*$",
        examples=["FREQ=MONTHLY;COUNT=12"],
        description="An RFC 5545 RRULE from `starts_at`; it must end (COUNT or UNTIL).",
    )
    partner_ids: list[str] = Field(default_factory=list, max_length=50)
    audience_id: str | None = None
    message_id: str | None = None
    channel_id: str | None = None
    event: EventDetailsIn | None = None


class Reschedule(AgreedChange):
    starts_at: PlanDatetime


class PartnerCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Mandag Morgen"])
    kind: str = Field("", max_length=100, examples=["think-tank", "union", "university"])
    contact: str = Field("", max_length=300)


class GoalPublic(_Out):
    id: str
    description: str
    metric: str
    target: float
    unit: str
    deadline: date | None


class GoalDetail(GoalPublic):
    """The goal with the latest value the metrics service measured for it."""

    measured_value: float | None
    measured_at: datetime | None
    measured_source: str | None = Field(description="counted (from events) or reported.")
    attained: bool | None = Field(
        None, description="Whether the measured value reached the target (null: not measured)."
    )


class AudiencePublic(_Out):
    id: str
    name: str
    kind: AudienceKind
    needs: str
    preferred_channels: list[ChannelKind]


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


class PartnerPublic(_Out):
    id: str
    name: str
    kind: str
    contact: str


class ActivityPublic(_Out):
    id: str
    title: str
    kind: ActivityKind
    owner: str | None
    starts_at: datetime
    recurrence: str | None
    next_due_at: datetime | None = Field(description="The next occurrence still to fall due.")
    audience_id: str | None
    message_id: str | None
    channel_id: str | None
    event_format: EventFormat | None
    capacity: int | None
    venue: str | None
    cancelled_at: datetime | None
    partners: list[PartnerPublic]


class ActivityDetail(ActivityPublic):
    """The activity with what the other services reported doing with it."""

    event_id: str | None = Field(None, description="The event the events service created.")
    event_status: str | None = Field(
        None, description="The event's status there: draft, published, cancelled, completed."
    )
    event_starts_at: datetime | None = Field(
        None, description="When the event takes place (moved by its organiser, it differs)."
    )
    event_confirmed: int | None = Field(None, description="Seats taken, once it was held.")
    event_checked_in: int | None = Field(None, description="Who came, once it was held.")
    deliveries_sent: int = 0
    deliveries_failed: int = 0
    channel_warning: str | None = Field(
        None, description="Set when the channel is not one the audience prefers."
    )


class PlanSummary(_Out):
    id: str
    title: str
    owner: str
    sender: str
    track_id: str | None
    period_start: date | None
    period_end: date | None
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
    starts_at: datetime = Field(description="This plan's activity, at the closest clash.")
    other_starts_at: datetime
    days_apart: float
    clashes: int = Field(description="How many occurrences of the two clash (recurring ones).")


class DeviationPublic(_Out):
    id: str
    activity_id: str | None
    change: str
    before: str
    after: str
    reason: str
    agreed_by: str
    recorded_by: str
    recorded_at: datetime


class PlanSnapshot(PlanSummary):
    """The plan with its parts: what each version keeps."""

    goals: list[GoalPublic]
    audiences: list[AudiencePublic]
    messages: list[MessagePublic]
    channels: list[ChannelPublic]
    activities: list[ActivityPublic]


class PlanDetail(PlanSnapshot):
    overlaps: list[Overlap] = Field(
        description="Clashes with other plans' activities (same audience, same weeks)."
    )
    goals: list[GoalDetail]  # type: ignore[assignment]  # a detail says more of each
    activities: list[ActivityDetail]  # type: ignore[assignment]
    deviations: list[DeviationPublic]


class PlanVersionSummary(_Out):
    version: int
    change: str
    changed_by: str
    changed_at: datetime


class PlanVersionPublic(PlanVersionSummary):
    snapshot: dict


class PlanVersionDiff(BaseModel):
    from_version: int
    to_version: int
    fields: dict = Field(description="The plan's own fields that changed, before/after.")
    parts: dict = Field(description="Per part (goals, activities, …): added, removed, changed.")
