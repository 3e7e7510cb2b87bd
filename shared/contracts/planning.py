"""Events published by the planning service."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared import topics
from shared.contracts.envelope import EventData, event
from shared.contracts.vocabulary import ActivityKind, ChannelKind, EventFormat

# a recurring activity's occurrences, at most (planning's rule; a consumer refuses more, so
# no one message can make a service create a send per one of 100,000 occurrences)
MAX_OCCURRENCES = 1000


class _Ref(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AudienceRef(_Ref):
    id: str
    name: str


class MessageRef(_Ref):
    id: str
    subject: str
    body: str


class EventDetails(_Ref):
    format: EventFormat
    capacity: int = Field(gt=0)
    venue: str | None = None


class GoalRef(_Ref):
    id: str
    metric: str
    target: float
    unit: str
    deadline: date | None = None


@event
class PlanApproved(EventData):
    """A plan was approved by a planner or admin; its activities follow as activity.approved.v1."""

    type = "plan.approved.v1"
    topic = topics.PLANS

    plan_id: str
    title: str
    owner: str
    sender: str
    approved_by: str
    approved_at: datetime
    activity_ids: list[str]
    goals: list[GoalRef] = Field(default_factory=list)  # added later: optional, so still v1


@event
class PlanSubmitted(EventData):
    """A draft plan was submitted for review by management."""

    type = "plan.submitted.v1"
    topic = topics.PLANS

    plan_id: str
    title: str
    owner: str
    submitted_by: str
    submitted_at: datetime


@event
class PlanRevised(EventData):
    """An approved plan got a new version: a deviation agreed with management."""

    type = "plan.revised.v1"
    topic = topics.PLANS

    plan_id: str
    version: int
    change: str
    reason: str
    agreed_by: str
    revised_by: str
    revised_at: datetime
    activity_ids: list[str]
    goals: list[GoalRef]


@event
class PlanActivated(EventData):
    """An approved plan is being carried out: its first activity fell due."""

    type = "plan.activated.v1"
    topic = topics.PLANS

    plan_id: str
    version: int
    activated_at: datetime


@event
class PlanClosed(EventData):
    """An approved plan was closed: its activities are history."""

    type = "plan.closed.v1"
    topic = topics.PLANS

    plan_id: str
    closed_by: str
    closed_at: datetime


@event
class ActivityApproved(EventData):
    """An activity of an approved plan: everything a downstream service needs to act on it."""

    type = "activity.approved.v1"
    topic = topics.ACTIVITIES

    activity_id: str
    plan_id: str
    title: str
    kind: ActivityKind
    channel: ChannelKind
    starts_at: datetime
    audience: AudienceRef
    message: MessageRef
    event: EventDetails | None = None
    # added later: optional, so still v1
    owner: str | None = None
    recurrence: str | None = Field(None, description="RFC 5545 RRULE from starts_at")
    occurrences: list[datetime] = Field(
        default_factory=list,
        max_length=MAX_OCCURRENCES,
        description="a recurring activity's every occurrence, in order",
    )
    partners: list[str] = Field(default_factory=list, description="co-organisers' names")


@event
class ActivityDue(EventData):
    """An activity of an approved plan has fallen due (its start time has come). Sent once."""

    type = "activity.due.v1"
    topic = topics.ACTIVITIES

    activity_id: str
    plan_id: str
    title: str
    kind: ActivityKind
    starts_at: datetime


@event
class ActivityRescheduled(EventData):
    """An activity of an approved plan moved to another time (a recorded deviation)."""

    type = "activity.rescheduled.v1"
    topic = topics.ACTIVITIES

    activity_id: str
    plan_id: str
    title: str
    kind: ActivityKind
    previous_starts_at: datetime
    starts_at: datetime
    reason: str
    occurrences: list[datetime] = Field(  # added later: optional, so still v1
        default_factory=list,
        max_length=MAX_OCCURRENCES,
        description="a recurring activity's new occurrences, in order",
    )


@event
class ActivityCancelled(EventData):
    """An activity of an approved plan was cancelled (a recorded deviation)."""

    type = "activity.cancelled.v1"
    topic = topics.ACTIVITIES

    activity_id: str
    plan_id: str
    title: str
    kind: ActivityKind
    reason: str


@event
class DeviationRecorded(EventData):
    """A change to an activity of an approved plan (added, moved, cancelled), with its reason
    and who agreed to it. Every deviation, of the plan itself too, also comes as plan.revised.v1."""

    type = "deviation.recorded.v1"
    topic = topics.PLANS

    deviation_id: str
    plan_id: str
    activity_id: str
    change: str
    before: str
    after: str
    reason: str
    agreed_by: str
    recorded_by: str
