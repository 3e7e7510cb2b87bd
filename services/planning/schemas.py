"""The planning API's request and response models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.planning.domain import AudienceKind, GatekeeperRole, NodeLevel, PlanStatus
from shared.contracts.vocabulary import ActivityKind, ChannelKind, EventFormat
from shared.schemas import ApiInput


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


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
    period_start: date | None = None
    period_end: date | None = None


class GoalCreate(AgreedChange):
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
    subject: str = Field(
        min_length=1,
        max_length=300,
        pattern=r"^[^\r\n]*$",
        description="One line: it becomes an e-mail subject.",
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
    starts_at: AwareDatetime
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


class Reschedule(AgreedChange):
    starts_at: AwareDatetime


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
    goals: list[GoalDetail]
    activities: list[ActivityDetail]
    deviations: list[DeviationPublic]


class CalendarEntry(BaseModel):
    """One activity on the calendar across plans (a recurring one: each occurrence)."""

    activity_id: str
    title: str
    kind: ActivityKind
    starts_at: datetime = Field(description="When it (this occurrence) takes place.")
    recurring: bool = False
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


class NodeCreate(ApiInput):
    """A focus area (no parent), a track (under a focus area) or a sub-track (under a track)."""

    parent_id: str | None = None
    name: str = Field(min_length=1, max_length=300, examples=["Borgerdialog og borgerinddragelse"])
    description: str = Field("", max_length=20000)


class NodeTree(ApiInput):
    """A node with the nodes under it, to create a strategy's tree in one request."""

    name: str = Field(min_length=1, max_length=300, examples=["Strategisk kommunikation"])
    description: str = Field("", max_length=20000)
    children: list[NodeTree] = Field(default_factory=list, max_length=100)


class StrategyCreate(ApiInput):
    name: str = Field(min_length=1, max_length=300, examples=["Strategiplan 2013–2014"])
    organisation: str = Field(min_length=1, max_length=200, examples=["Silkeborg Kommune"])
    vision: str = Field(
        min_length=1,
        max_length=20000,
        examples=["Silkeborg Kommune er anerkendt som en synlig, kompetent og innovativ kommune"],
    )
    values: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=20, examples=[["Dialog", "Dynamik", "Kvalitet"]]
    )
    period_start: date
    period_end: date
    focus_areas: list[NodeTree] = Field(
        default_factory=list,
        max_length=20,
        description="Optional: the tree of focus areas → tracks (children) → sub-tracks.",
    )


class NodePublic(_Out):
    id: str
    parent_id: str | None
    level: NodeLevel
    name: str
    description: str


class NodeDetail(NodePublic):
    children: list[NodeDetail]


class StrategySummary(_Out):
    id: str
    name: str
    organisation: str
    vision: str
    values: list[str]
    period_start: date
    period_end: date
    created_at: datetime


class StrategyDetail(StrategySummary):
    focus_areas: list[NodeDetail]
    action_plan_version: int | None = Field(description="The latest action-plan revision.")


class ActionItem(ApiInput):
    """One initiative of the action plan under a node of the strategy's tree."""

    track_id: str = Field(description="A focus area, track or sub-track of this strategy.")
    initiative: str = Field(min_length=1, max_length=300, examples=["Lederkommunikation"])
    description: str = Field("", max_length=20000)
    owner: str = Field("", max_length=200, examples=["Kommunikationsafdelingen"])
    success_criterion: str = Field("", max_length=2000)


class ActionPlanRevise(ApiInput):
    year: int = Field(ge=1900, le=2200, examples=[2013])
    note: str = Field("", max_length=20000, examples=["Revised from the 2013 measurements"])
    items: list[ActionItem] = Field(max_length=500)


class ActionPlanVersionPublic(_Out):
    version: int
    year: int
    note: str
    items: list[dict]
    revised_by: str
    revised_at: datetime


class ActionPlanDiff(BaseModel):
    """Items are matched across versions by track and initiative."""

    from_version: int
    to_version: int
    added: list[dict]
    removed: list[dict]
    changed: list[dict] = Field(description="Items in both, with each changed field before/after.")


class PartnerCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Mandag Morgen"])
    kind: str = Field("", max_length=100, examples=["think-tank", "union", "university"])
    contact: str = Field("", max_length=300)


class PlanUpdate(AgreedChange):
    """The fields to change; those left out stay as they are (`track_id`, `period_start` and
    `period_end` can be set to null)."""

    title: str | None = Field(None, min_length=1, max_length=300)
    owner: str | None = Field(None, min_length=1, max_length=200)
    sender: str | None = Field(None, min_length=1, max_length=200)
    track_id: str | None = None
    period_start: date | None = None
    period_end: date | None = None

    @field_validator("title", "owner", "sender", mode="after")
    @classmethod
    def _not_null(cls, value: str | None, info: ValidationInfo) -> str:
        if value is None:
            raise ValueError(f"{info.field_name} cannot be removed")
        return value


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
