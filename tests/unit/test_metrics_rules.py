"""Which goals the metrics service counts, when it publishes a measured value, and what a
person may report."""

from datetime import UTC, date, datetime

import pytest

from services.metrics.domain import (
    COUNTED_METRICS,
    EVENT_COUNTS,
    check_measured_on,
    counted_event_types,
    counted_measurement,
    counted_metric,
    crossing,
    goal_state,
    is_news,
    reported_measurement,
)
from shared.contracts import registry
from shared.contracts.metrics import KpiMeasured, KpiSource, KpiThresholdCrossed, attained
from shared.contracts.planning import GoalRef
from shared.errors import RuleViolation

NOW = datetime(2016, 1, 20, 12, tzinfo=UTC)
NEWSLETTER = GoalRef(id="g-news", metric="deliveries_sent", target=3000, unit="recipients")
INNOVATIONSDAG = GoalRef(id="g-day", metric="events_created", target=5, unit="events")
SURVEY = GoalRef(id="g-survey", metric="user satisfaction", target=75, unit="%")
SATISFIED = GoalRef(id="g-sat", metric="Satisfaction", target=70, unit="%")


@pytest.mark.parametrize(
    ("written", "counted"),
    [
        ("deliveries_sent", "deliveries_sent"),
        ("Deliveries sent", "deliveries_sent"),
        ("  deliveries-sent ", "deliveries_sent"),
        ("EVENTS  CREATED", "events_created"),
        ("activities_due", "activities_due"),
        ("Reach", "reach"),
        ("registrations", "registrations"),
        ("Attendance", "attendees"),
        ("satisfied", "satisfaction"),
        ("deliveries", None),  # close is not the same metric
        ("deliveries_failed", None),  # fewer is better: not a goal to reach
        ("user satisfaction", None),  # someone else's survey: reported
    ],
)
def test_a_goal_is_counted_when_its_metric_names_one_in_the_vocabulary(written, counted) -> None:  # type: ignore[no-untyped-def]
    assert counted_metric(written) == counted


def test_the_plain_event_counts_are_counted_per_plan() -> None:
    per_plan = {model.type for model in counted_event_types()}
    for metric, event_type in EVENT_COUNTS.items():
        assert metric in COUNTED_METRICS
        assert registry.model(event_type).type == event_type
        assert event_type in per_plan, metric
    assert "kpi.measured.v1" not in EVENT_COUNTS.values()  # never counted from its own output


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


def test_a_goal_is_published_when_first_counted_and_then_only_when_it_changed() -> None:
    published = counted_measurement("plan-1", NEWSLETTER, 120, NOW)

    assert not is_news(NEWSLETTER, 0, None)  # nothing counted yet
    assert is_news(NEWSLETTER, 120, None)
    assert not is_news(NEWSLETTER, 120, published)
    assert not is_news(NEWSLETTER.model_copy(update={"metric": "Deliveries sent"}), 120, published)
    assert is_news(NEWSLETTER, 121, published)
    assert is_news(NEWSLETTER.model_copy(update={"target": 6000}), 120, published)
    assert is_news(NEWSLETTER.model_copy(update={"unit": "contacts"}), 120, published)


@pytest.mark.parametrize(
    ("before", "value", "expected"),
    [
        (None, 74.0, True),  # measured attained at once
        (None, 60.0, None),  # first measured below target: not a crossing
        (60.0, 74.0, True),
        (74.0, 80.0, None),  # still attained
        (74.0, 65.0, False),  # fell behind
        (65.0, 60.0, None),
    ],
)
def test_a_threshold_is_crossed_when_a_goal_becomes_attained_or_falls_behind(
    before: float | None, value: float, expected: bool | None
) -> None:
    measured = counted_measurement("plan-1", SATISFIED, value, NOW)

    crossed = crossing("plan-1", SATISFIED, before, measured)

    if expected is None:
        assert crossed is None
    else:
        assert crossed == KpiThresholdCrossed(
            plan_id="plan-1",
            goal_id="g-sat",
            metric="Satisfaction",
            value=value,
            target=70,
            unit="%",
            attained=expected,
            crossed_at=NOW,
        )


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


@pytest.mark.parametrize(
    ("value", "target"),
    [(1e300, 1.0), (1e300, 1e-300), (-1e308, 1.0), (1.7e308, -1e-308), (0.0, 70.0)],
)
def test_the_goals_chart_is_drawn_whatever_the_values(value: float, target: float) -> None:
    """A value beyond the chart's scale (10× its target, or below nothing) draws its bar to
    the edge; the table beside it gives the value (1e300 against 1 was a 500 on the page)."""
    from services.metrics import reports, schemas
    from services.metrics.pages import REPORT_TEXT

    goal = {"goal_id": "g", "metric": "Tilfredshed", "target": target, "unit": "%"}
    report = schemas.PlanReport(
        plan_id="p",
        title="Tendens",
        generated_at=datetime(2015, 11, 1, tzinfo=UTC),
        goals=[
            schemas.ReportGoal(**goal, deadline=None, value=value, measured_at=None, attained=None)
        ],
        activities=[],
        audiences=[],
        events=[],
        sent_by_day=[],
        reached_by_day=[],
        satisfaction_scores={},
    )
    svg = reports.charts(report, REPORT_TEXT["da"])["goals"]
    assert svg.startswith("<svg") and "inf" not in svg.lower()
