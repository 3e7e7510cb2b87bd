"""Which goals the metrics service counts, when it publishes a measured value, and what a
person may report."""

from datetime import UTC, date, datetime

import pytest

from services.metrics.domain import (
    COUNTED_METRICS,
    check_measured_on,
    counted_event_types,
    counted_measurement,
    counted_metric,
    goal_state,
    goals_to_announce,
    metrics_counted_from,
    reported_measurement,
)
from shared.contracts import registry
from shared.contracts.metrics import KpiMeasured, KpiSource, attained
from shared.contracts.planning import GoalRef
from shared.errors import RuleViolation

NOW = datetime(2016, 1, 20, 12, tzinfo=UTC)
NEWSLETTER = GoalRef(id="g-news", metric="deliveries_sent", target=3000, unit="recipients")
INNOVATIONSDAG = GoalRef(id="g-day", metric="events_created", target=5, unit="events")
SURVEY = GoalRef(id="g-survey", metric="user satisfaction", target=75, unit="%")


@pytest.mark.parametrize(
    ("written", "counted"),
    [
        ("deliveries_sent", "deliveries_sent"),
        ("Deliveries sent", "deliveries_sent"),
        ("  deliveries-sent ", "deliveries_sent"),
        ("EVENTS  CREATED", "events_created"),
        ("activities_due", "activities_due"),
        ("deliveries", None),  # close is not the same metric
        ("deliveries_failed", None),  # fewer is better: not a goal to reach
        ("user satisfaction", None),
        ("registrations", None),
    ],
)
def test_a_goal_is_counted_when_its_metric_names_one_in_the_vocabulary(written, counted) -> None:  # type: ignore[no-untyped-def]
    assert counted_metric(written) == counted


def test_every_counted_metric_is_the_count_of_an_event_type_counted_per_plan() -> None:
    per_plan = {model.type for model in counted_event_types()}
    for metric, event_type in COUNTED_METRICS.items():
        assert registry.model(event_type).type == event_type
        assert event_type in per_plan, metric
        assert metrics_counted_from(event_type) == [metric]
    assert metrics_counted_from("kpi.measured.v1") == []  # never counted from its own output
    assert metrics_counted_from("delivery.failed.v1") == []


def test_a_counted_value_carries_the_goal_and_the_plans_count() -> None:
    measured = counted_measurement("plan-1", NEWSLETTER, 3, NOW)

    assert measured == KpiMeasured(
        plan_id="plan-1",
        goal_id="g-news",
        metric="deliveries_sent",
        value=3,
        target=3000,
        unit="recipients",
        measured_at=NOW,
        source=KpiSource.COUNTED,
    )


def test_goals_arriving_after_their_events_are_measured_at_once_with_the_count() -> None:
    counts = {"delivery.sent.v1": 120, "activity.approved.v1": 7}

    announced = goals_to_announce({}, [NEWSLETTER, INNOVATIONSDAG, SURVEY], counts)

    assert announced == [(NEWSLETTER, 120)]  # no event created yet; the survey is reported


def test_goals_before_any_of_their_events_are_not_measured() -> None:
    assert goals_to_announce({}, [NEWSLETTER, INNOVATIONSDAG], {}) == []


def test_a_revision_measures_only_goals_that_are_new_or_changed() -> None:
    counts = {"delivery.sent.v1": 120, "event.created.v1": 2}
    previous = {NEWSLETTER.id: NEWSLETTER, INNOVATIONSDAG.id: INNOVATIONSDAG}
    raised = INNOVATIONSDAG.model_copy(update={"target": 6})
    renamed = NEWSLETTER.model_copy(update={"metric": "Deliveries sent"})  # the same metric
    new = GoalRef(id="g-due", metric="activities due", target=10, unit="activities")
    counts["activity.due.v1"] = 4

    announced = goals_to_announce(previous, [renamed, raised, new], counts)

    assert announced == [(raised, 2), (new, 4)]


def test_a_reported_value_is_dated_midnight_utc_of_the_day_measured() -> None:
    measured = reported_measurement("plan-1", SURVEY, 74, date(2010, 6, 1))

    assert measured.source is KpiSource.REPORTED
    assert measured.measured_at == datetime(2010, 6, 1, tzinfo=UTC)
    assert (measured.goal_id, measured.value, measured.target, measured.unit) == (
        "g-survey",
        74,
        75,
        "%",
    )


def test_a_counted_goal_cannot_be_reported() -> None:
    with pytest.raises(RuleViolation) as refused:
        reported_measurement("plan-1", NEWSLETTER, 5000, date(2016, 1, 20))
    assert refused.value.errors[0]["field"] == "goal_id"


@pytest.mark.parametrize(
    ("measured_on", "allowed"),
    [
        (date(2010, 6, 1), True),
        (date(2016, 1, 20), True),
        (date(2016, 1, 21), True),  # already tomorrow east of UTC
        (date(2016, 1, 22), False),
    ],
)
def test_nothing_is_measured_in_the_future(measured_on: date, allowed: bool) -> None:
    if allowed:
        check_measured_on(measured_on, today=date(2016, 1, 20))
    else:
        with pytest.raises(RuleViolation) as refused:
            check_measured_on(measured_on, today=date(2016, 1, 20))
        assert refused.value.errors[0]["field"] == "measured_on"


@pytest.mark.parametrize(
    ("value", "expected", "state"),
    [
        (None, None, "unmeasured"),
        (74, False, "below_target"),
        (75, True, "attained"),
        (80.5, True, "attained"),
    ],
)
def test_a_goal_is_attained_when_its_value_reaches_the_target(value, expected, state) -> None:  # type: ignore[no-untyped-def]
    assert attained(value, 75) is expected
    assert goal_state(value, 75) == state
