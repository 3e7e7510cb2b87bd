"""Planning's consumers with a unit of work in memory: no database, no broker.

Each report from the events and notifications services becomes one change of its activity's
outcome (or none, for an organiser's own event); a measured value is shown on its goal unless
a newer one is already there. The SQL that writes them is tested against both databases in
tests/integration (test_planning, test_consumers, test_slice).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.planning import handlers
from services.planning.outcomes import OutcomeChange
from services.planning.plans.parts import Goal
from shared.contracts import new_envelope
from shared.contracts.events import (
    EventCancelled,
    EventCompleted,
    EventCreated,
    EventPublished,
    EventRescheduled,
)
from shared.contracts.metrics import KpiMeasured, KpiSource
from shared.contracts.notifications import DeliveryFailed, DeliverySent
from shared.contracts.vocabulary import ChannelKind, EventFormat

# Case E of DOMAIN.md: the regional employment conference, about 300 participants
PLAN, ACTIVITY, EVENT = "plan-brmj-2015", "activity-conference", "event-conference"
STARTS = datetime(2015, 11, 19, 8, tzinfo=UTC)
MOVED = STARTS + timedelta(days=7)
NOW = datetime(2015, 11, 26, 16, tzinfo=UTC)


class FakeOutcomes:
    def __init__(self) -> None:
        self.applied: list[OutcomeChange] = []

    async def apply(self, change: OutcomeChange) -> None:
        self.applied.append(change)


class FakePlans:
    def __init__(self, goals: list[Goal]) -> None:
        self.goals = {(g.plan_id, g.id): g for g in goals}

    async def goal(self, plan_id: str, goal_id: str) -> Goal | None:
        return self.goals.get((plan_id, goal_id))


class FakeUnitOfWork:
    def __init__(self, goals: list[Goal] = []) -> None:  # noqa: B006 (never changed)
        self.outcomes = FakeOutcomes()
        self.plans = FakePlans(goals)


async def handled(data, uow: FakeUnitOfWork | None = None) -> FakeUnitOfWork:  # type: ignore[no-untyped-def]
    """Route `data` the way the consumer does: through the subscription's handler table."""
    uow = uow or FakeUnitOfWork()
    handler = handlers.subscription("planning").handlers[type(data)]
    envelope = new_envelope(data, source="test", subject=PLAN, correlation_id="test")
    await handler(uow, envelope, data)
    return uow


def delivery(kind, **more):  # type: ignore[no-untyped-def]
    return kind(
        delivery_id="d1",
        activity_id=ACTIVITY,
        plan_id=PLAN,
        contact_id="c1",
        channel=ChannelKind.NEWSLETTER,
        **more,
    )


EVENT_FIELDS = {"event_id": EVENT, "activity_id": ACTIVITY, "plan_id": PLAN}
PUBLISHED = {
    "title": "Beskæftigelseskonference 2015",
    "format": EventFormat.CONFERENCE,
    "starts_at": STARTS,
    "ends_at": None,
    "capacity": 300,
    "language": "da",
}

REPORTS = [
    (
        EventCreated(
            **EVENT_FIELDS,
            title="Beskæftigelseskonference 2015",
            format=EventFormat.CONFERENCE,
            starts_at=STARTS,
            capacity=300,
        ),
        OutcomeChange(
            ACTIVITY,
            PLAN,
            {"event_id": EVENT, "event_status": "draft", "event_starts_at": STARTS},
        ),
    ),
    (
        EventPublished(**EVENT_FIELDS, **PUBLISHED),
        OutcomeChange(ACTIVITY, PLAN, {"event_status": "published"}),
    ),
    (
        EventRescheduled(
            **EVENT_FIELDS, previous_starts_at=STARTS, starts_at=MOVED, reason="salen er optaget"
        ),
        OutcomeChange(ACTIVITY, PLAN, {"event_starts_at": MOVED}),
    ),
    (
        EventCancelled(**EVENT_FIELDS, reason="for få tilmeldte"),
        OutcomeChange(ACTIVITY, PLAN, {"event_status": "cancelled"}),
    ),
    (
        EventCompleted(**EVENT_FIELDS, confirmed=300, checked_in=274),
        OutcomeChange(
            ACTIVITY,
            PLAN,
            {"event_status": "completed", "event_confirmed": 300, "event_checked_in": 274},
        ),
    ),
    (
        delivery(DeliverySent, sent_at=NOW),
        OutcomeChange(ACTIVITY, PLAN, count="deliveries_sent"),
    ),
    (
        delivery(DeliveryFailed, attempts=80, reason="recipient refused (SMTP 550)"),
        OutcomeChange(ACTIVITY, PLAN, count="deliveries_failed"),
    ),
]


@pytest.mark.parametrize(("report", "change"), REPORTS, ids=lambda r: type(r).__name__)
async def test_each_report_changes_its_activitys_outcome(report, change) -> None:  # type: ignore[no-untyped-def]
    uow = await handled(report)
    assert uow.outcomes.applied == [change]


ORGANISERS_OWN = [
    EventPublished(event_id=EVENT, activity_id=None, plan_id=None, **PUBLISHED),
    EventRescheduled(
        event_id=EVENT,
        activity_id=None,
        plan_id=None,
        previous_starts_at=STARTS,
        starts_at=MOVED,
        reason="flyttet",
    ),
    EventCancelled(event_id=EVENT, activity_id=None, plan_id=None, reason="aflyst"),
    EventCompleted(event_id=EVENT, activity_id=None, plan_id=None, confirmed=12, checked_in=5),
]


@pytest.mark.parametrize("report", ORGANISERS_OWN, ids=lambda r: type(r).__name__)
async def test_an_organisers_own_event_changes_no_plan(report) -> None:  # type: ignore[no-untyped-def]
    uow = await handled(report)
    assert uow.outcomes.applied == []


def goal(measured_at: datetime | None = None, value: float | None = None) -> Goal:
    return Goal(
        id="goal-satisfied",
        plan_id=PLAN,
        description="Deltagerne er tilfredse med konferencen",
        metric="satisfied participants",
        target=70.0,
        unit="%",
        measured_value=value,
        measured_at=measured_at,
    )


def measured(value: float, at: datetime) -> KpiMeasured:
    return KpiMeasured(
        plan_id=PLAN,
        goal_id="goal-satisfied",
        metric="satisfied participants",
        value=value,
        target=70.0,
        unit="%",
        measured_at=at,
        source=KpiSource.REPORTED,
    )


async def test_a_measured_value_is_shown_on_its_goal() -> None:
    satisfied = goal()
    await handled(measured(74.0, NOW), FakeUnitOfWork([satisfied]))
    assert (satisfied.measured_value, satisfied.measured_at) == (74.0, NOW)
    assert satisfied.measured_source == KpiSource.REPORTED


async def test_a_value_measured_earlier_that_arrives_late_does_not_replace_a_newer_one() -> None:
    satisfied = goal(measured_at=NOW, value=74.0)
    await handled(measured(60.0, NOW - timedelta(days=1)), FakeUnitOfWork([satisfied]))
    assert (satisfied.measured_value, satisfied.measured_at) == (74.0, NOW)
    await handled(measured(76.0, NOW), FakeUnitOfWork([satisfied]))  # the same moment: taken
    assert satisfied.measured_value == 76.0


async def test_a_value_for_a_goal_the_plan_no_longer_has_changes_nothing() -> None:
    elsewhere = goal()
    elsewhere.plan_id = "plan-of-another-year"  # the same goal id under another plan
    await handled(measured(74.0, NOW), FakeUnitOfWork([elsewhere]))
    assert elsewhere.measured_value is None and elsewhere.measured_at is None
