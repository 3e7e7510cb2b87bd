"""What the metrics service counts and measures, in plain Python."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol

from shared.contracts import EventData, registry
from shared.contracts.events import EventCreated
from shared.contracts.metrics import KpiMeasured, KpiSource, KpiThresholdCrossed, attained
from shared.contracts.notifications import DeliverySent
from shared.contracts.planning import ActivityDue, GoalRef
from shared.errors import RuleViolation

# The metrics a goal may name to be measured here, from the read models of the plan's
# events. Only measures where more is better: a goal is attained when its value reaches the
# target.
COUNTED_METRICS: dict[str, str] = {
    "deliveries_sent": "messages of the plan's activities the mail server accepted",
    "reach": "distinct contacts who got at least one of the plan's messages",
    "events_created": "events set up for the plan's event activities",
    "activities_due": "activities whose start time has come",
    "registrations": "confirmed registrations for the plan's events",
    "attendees": "attendees checked in at the plan's events",
    "satisfaction": "per cent satisfied in the plan's surveys (4–5 of 5; NPS 9–10)",
}
# other ways planners write the same metric
ALIASES = {
    "attendance": "attendees",
    "checked_in": "attendees",
    "satisfied": "satisfaction",
    "registered": "registrations",
    "unique_reach": "reach",
}
# the metrics that are a plain count of one event type per plan (see PlanCount)
EVENT_COUNTS: dict[str, str] = {
    "deliveries_sent": DeliverySent.type,  # (counted so since before the read models)
    "events_created": EventCreated.type,
    "activities_due": ActivityDue.type,
}


def plan_of(data: EventData) -> str | None:
    """The plan an event belongs to, if it belongs to one."""
    return getattr(data, "plan_id", None)


def counted_event_types() -> list[type[EventData]]:
    """Every known event type that names its plan is counted per plan."""
    return [model for model in registry.all() if "plan_id" in model.model_fields]


def metric_key(metric: str) -> str:
    """Planners write metric names by hand: "Deliveries sent" and "deliveries-sent" are
    the same metric as "deliveries_sent"."""
    return re.sub(r"[\s_-]+", "_", metric.strip().lower())


def counted_metric(metric: str) -> str | None:
    """The counted metric a goal's free-text metric names, or None if a person measures it."""
    key = metric_key(metric)
    key = ALIASES.get(key, key)
    return key if key in COUNTED_METRICS else None


def counted_measurement(
    plan_id: str, goal: GoalRef, value: float, measured_at: datetime
) -> KpiMeasured:
    return KpiMeasured(
        plan_id=plan_id,
        goal_id=goal.id,
        metric=goal.metric,
        value=value,
        target=goal.target,
        unit=goal.unit,
        measured_at=measured_at,
        source=KpiSource.COUNTED,
    )


class Measured(Protocol):
    value: float
    metric: str
    target: float
    unit: str


def is_news(goal: GoalRef, value: float, latest: Measured | None) -> bool:
    """A counted goal is published when its value, or the goal itself (a revision changed its
    metric, target or unit), differs from what was last published for it."""
    if latest is None:
        return value > 0  # nothing counted yet is not a measurement
    return (value, metric_key(goal.metric), goal.target, goal.unit) != (
        latest.value,
        metric_key(latest.metric),
        latest.target,
        latest.unit,
    )


def crossing(
    plan_id: str, goal: GoalRef, before: float | None, measured: KpiMeasured
) -> KpiThresholdCrossed | None:
    """The goal became attained, or fell behind after being attained."""
    was, now = attained(before, goal.target), attained(measured.value, goal.target)
    if now == was or (was is None and not now):
        return None
    return KpiThresholdCrossed(
        plan_id=plan_id,
        goal_id=goal.id,
        metric=goal.metric,
        value=measured.value,
        target=goal.target,
        unit=goal.unit,
        attained=bool(now),
        crossed_at=measured.measured_at,
    )


def reported_measurement(
    plan_id: str, goal: GoalRef, value: float, measured_on: date
) -> KpiMeasured:
    """A value a person measured (a survey, say), dated midnight UTC of the day it was measured."""
    if counted_metric(goal.metric):
        raise RuleViolation(
            f"{goal.metric} is counted from events by the metrics service; it cannot be reported",
            errors=[{"field": "goal_id", "message": "the goal's metric is counted, not reported"}],
        )
    return KpiMeasured(
        plan_id=plan_id,
        goal_id=goal.id,
        metric=goal.metric,
        value=value,
        target=goal.target,
        unit=goal.unit,
        measured_at=datetime.combine(measured_on, time(), tzinfo=UTC),
        source=KpiSource.REPORTED,
    )


def check_measured_on(measured_on: date, today: date) -> None:
    """Nothing is measured in the future (a day's leeway: "today" east of UTC)."""
    if measured_on > today + timedelta(days=1):
        raise RuleViolation(
            f"measured_on {measured_on} is in the future",
            errors=[{"field": "measured_on", "message": "must not be in the future"}],
        )


GOAL_STATES = ("attained", "below_target", "unmeasured")


def goal_state(value: float | None, target: float) -> str:
    """A goal's state for the overview gauge: one of GOAL_STATES."""
    reached = attained(value, target)
    return "unmeasured" if reached is None else "attained" if reached else "below_target"
