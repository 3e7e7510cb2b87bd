"""Events published by the metrics service."""

from datetime import datetime
from enum import StrEnum

from shared import topics
from shared.contracts.envelope import EventData, event


class KpiSource(StrEnum):
    COUNTED = "counted"  # counted by the metrics service from other services' events
    REPORTED = "reported"  # entered by a person, e.g. the result of a user survey


@event
class KpiMeasured(EventData):
    """A new measured value for one goal of a plan, to be shown next to its target."""

    type = "kpi.measured.v1"
    topic = topics.KPIS

    plan_id: str
    goal_id: str
    metric: str
    value: float
    target: float
    unit: str
    measured_at: datetime
    source: KpiSource


@event
class KpiThresholdCrossed(EventData):
    """A goal became attained, or fell behind its target after being attained."""

    type = "kpi.threshold_crossed.v1"
    topic = topics.KPIS

    plan_id: str
    goal_id: str
    metric: str
    value: float
    target: float
    unit: str
    attained: bool
    crossed_at: datetime


class SurveyEvent(EventData):
    """About a survey: which, and the event or activity (and plan) it evaluates."""

    topic = topics.SURVEYS

    survey_id: str
    event_id: str | None
    activity_id: str | None
    plan_id: str | None


@event
class SurveyOpened(SurveyEvent):
    """A survey takes answers (from `opens_at`, until `closes_at`, when they are set): the
    survey e-mails to an event's attendees go out now, or at `opens_at` — not before.
    Metrics says it again for each open survey of an event at every start (for subscribers
    that missed it), so it may come more than once for one survey."""

    type = "survey.opened.v1"

    opens_at: datetime | None
    closes_at: datetime | None


@event
class SurveyClosed(SurveyEvent):
    """A survey takes no more answers: survey e-mails not yet sent for it are not sent."""

    type = "survey.closed.v1"


def attained(value: float | None, target: float) -> bool | None:
    """Whether a goal's measured value reached its target (more is better: the counted metrics
    are chosen so); None until it is measured."""
    return None if value is None else value >= target
