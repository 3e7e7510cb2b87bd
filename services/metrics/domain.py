"""What the metrics service counts and measures, in plain Python."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from shared.contracts import EventData, registry
from shared.contracts.events import EventCreated
from shared.contracts.metrics import KpiMeasured, KpiSource, attained
from shared.contracts.notifications import DeliverySent
from shared.contracts.planning import ActivityDue, GoalRef
from shared.errors import RuleViolation

# The metrics a goal may name to be measured here, each the count per plan of one event type.
# Only counts where more is better: a goal is attained when its value reaches the target.
COUNTED_METRICS: dict[str, str] = {
    "deliveries_sent": DeliverySent.type,  # e-mails the mail server accepted
    "events_created": EventCreated.type,  # events set up for the plan's event activities
    "activities_due": ActivityDue.type,  # activities whose start time has come
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
    return key if key in COUNTED_METRICS else None


def metrics_counted_from(event_type: str) -> list[str]:
    return [metric for metric, counted in COUNTED_METRICS.items() if counted == event_type]


def counted_measurement(
    plan_id: str, goal: GoalRef, count: int, measured_at: datetime
) -> KpiMeasured:
    return KpiMeasured(
        plan_id=plan_id,
        goal_id=goal.id,
        metric=goal.metric,
        value=count,
        target=goal.target,
        unit=goal.unit,
        measured_at=measured_at,
        source=KpiSource.COUNTED,
    )


def goals_to_announce(
    previous: Mapping[str, GoalRef], goals: Iterable[GoalRef], counts: Mapping[str, int]
) -> list[tuple[GoalRef, int]]:
    """When a plan's goals arrive, the counted goals whose count is already there (its events
    came first), each with that count: once per goal, so again only for a goal that is new or
    whose metric, target or unit changed since the plan's last goals."""
    announced = []
    for goal in goals:
        metric = counted_metric(goal.metric)
        count = counts.get(COUNTED_METRICS[metric], 0) if metric else 0
        before = previous.get(goal.id)
        unchanged = before is not None and (
            (metric_key(before.metric), before.target, before.unit)
            == (metric_key(goal.metric), goal.target, goal.unit)
        )
        if count > 0 and not unchanged:
            announced.append((goal, count))
    return announced


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
