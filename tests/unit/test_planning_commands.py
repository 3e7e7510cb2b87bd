"""Planning's commands with a unit of work in memory: no database, no broker.

What a command adds to the aggregate is the plumbing: the caller's If-Match, the deviation's
fields kept apart from the part's, a series expanded, one commit. `FakeUnitOfWork` commits the
way the real one does (`Plans.save`): each changed plan's change for its history, and its
events for the outbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.planning.plans import commands, schemas
from services.planning.plans.model import Edit, Plan
from services.planning.tables import Audience
from shared.auth import Principal
from shared.contracts.planning import (
    ActivityApproved,
    ActivityCancelled,
    DeviationRecorded,
    PlanApproved,
    PlanClosed,
    PlanRevised,
)
from shared.errors import Conflict, NotFound, PreconditionFailed, RuleViolation

NOW = datetime(2015, 8, 17, 9, tzinfo=UTC)
PLANNER = Principal(subject="planner@brmj.dk", name="Planner", roles=frozenset({"planner"}))


class FakePlans:
    def __init__(self) -> None:
        self.stored: dict[str, Plan] = {}
        self.seen: list[Plan] = []

    async def get_for_change(self, plan_id: str, expected: frozenset[int] | None) -> Plan:
        if plan_id not in self.stored:
            raise NotFound(f"no plan with id {plan_id}")
        plan = self.stored[plan_id]
        plan.check_version(expected)
        self.seen.append(plan)
        return plan

    def add(self, plan: Plan) -> None:
        self.stored[plan.id] = plan
        self.seen.append(plan)


class FakeUnitOfWork:
    session = None  # commands that look up other rows need the real one

    def __init__(self) -> None:
        self.plans = FakePlans()
        self.history: list[tuple[str, int, str]] = []  # plan id, version, change
        self.outbox: list[tuple[object, str]] = []
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.plans.seen.clear()

    def now(self) -> datetime:
        return NOW

    async def commit(self) -> None:
        for plan in self.plans.seen:
            change, events = plan.take_change()
            if change is not None:
                self.history.append((plan.id, plan.version, change.change))
            self.outbox += events
        self.commits += 1


async def tendens_plan(uow: FakeUnitOfWork) -> Plan:
    """Case E of DOMAIN.md: the region's newsletter Tendens, six issues a year."""
    plan = await commands.create_plan(
        uow,
        schemas.PlanCreate(title="Tendens 2015", owner="BRMJ", sender="Beskæftigelsesregion"),
        PLANNER,
    )
    goal = schemas.GoalCreate(
        description="Tendens reaches the job centres",
        metric="newsletter recipients",
        target=1000,
        unit="recipients",
    )
    await commands.add_goal(uow, plan.id, goal, PLANNER)
    return plan


async def test_a_new_plan_is_stored_and_its_creation_kept() -> None:
    uow = FakeUnitOfWork()
    plan = await tendens_plan(uow)
    assert uow.plans.stored == {plan.id: plan}
    assert uow.history == [
        (plan.id, 1, "created"),
        (plan.id, 2, "goal added: Tendens reaches the job centres"),
    ]
    assert uow.commits == 2 and uow.outbox == []


async def test_a_stale_if_match_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    plan = await tendens_plan(uow)
    channel = schemas.ChannelCreate(kind="newsletter", name="Tendens")
    with pytest.raises(PreconditionFailed):
        await commands.add_channel(uow, plan.id, channel, PLANNER, frozenset({1}))
    assert plan.channels == [] and uow.commits == 2
    added, _plan = await commands.add_channel(uow, plan.id, channel, PLANNER, frozenset({2}))
    assert plan.channels == [added] and plan.version == 3


async def test_an_unknown_plan_is_not_found() -> None:
    with pytest.raises(NotFound):
        await commands.submit_plan(FakeUnitOfWork(), "no-such-plan", PLANNER, None)


async def test_a_series_is_expanded_and_the_deviation_fields_kept_apart() -> None:
    uow = FakeUnitOfWork()
    plan = await tendens_plan(uow)
    channel, _ = await commands.add_channel(
        uow, plan.id, schemas.ChannelCreate(kind="newsletter", name="Tendens"), PLANNER
    )
    issues = schemas.ActivityCreate(
        title="Tendens",
        kind="communication",
        channel_id=channel.id,
        starts_at=datetime(2015, 9, 1, 8, tzinfo=UTC),
        recurrence="FREQ=MONTHLY;INTERVAL=2;COUNT=6",
        reason="ignored on a draft",
    )
    activity, _ = await commands.add_activity(uow, plan.id, issues, PLANNER)
    assert len(activity.times) == 6 and activity.recurrence == "FREQ=MONTHLY;INTERVAL=2;COUNT=6"
    assert plan.deviations == []


async def test_approval_then_a_revision_publish_through_the_unit_of_work() -> None:
    uow = FakeUnitOfWork()
    plan = Plan.create(
        {"title": "Kommune forfra", "owner": "Borgmesterens Afdeling", "sender": "Aarhus Kommune"},
        Edit("seed", NOW),
    )
    uow.plans.add(plan)
    directors = Audience(
        id="a",
        name="Municipal directors",
        kind="politicians",
        needs="",
        preferred_channels=[],
        created_at=NOW,
    )
    plan.add_audience(directors, Edit("seed", NOW))  # as if linked earlier
    await uow.commit()
    goal = schemas.GoalCreate(description="d", metric="participants", target=40, unit="people")
    await commands.add_goal(uow, plan.id, goal, PLANNER)
    message = schemas.MessageCreate(audience_id="a", subject="Rethink welfare", body="Come.")
    await commands.add_message(uow, plan.id, message, PLANNER, lix_threshold=35)
    channel, _ = await commands.add_channel(
        uow, plan.id, schemas.ChannelCreate(kind="conference", name="Round table"), PLANNER
    )
    day = schemas.ActivityCreate(
        title="Velfærdens innovationsdag",
        kind="event",
        audience_id="a",
        message_id=plan.messages[0].id,
        channel_id=channel.id,
        starts_at=datetime(2016, 1, 20, 8, tzinfo=UTC),
        event={"format": "round_table", "capacity": 40},
    )
    activity, _ = await commands.add_activity(uow, plan.id, day, PLANNER)
    await commands.approve_plan(uow, plan.id, PLANNER, frozenset({plan.version}))
    assert [type(data) for data, _ in uow.outbox] == [PlanApproved, ActivityApproved]

    move = schemas.Reschedule(
        starts_at=datetime(2016, 1, 27, 8, tzinfo=UTC),
        reason="Mandag Morgen moved the day",
        agreed_by="Magistraten",
    )
    await commands.reschedule_activity(uow, plan.id, activity.id, move, PLANNER, None)
    assert type(uow.outbox[-1][0]) is PlanRevised
    assert plan.deviations[0].agreed_by == "Magistraten"
    assert uow.history[-1][2].startswith("activity rescheduled: Velfærdens innovationsdag")


async def approved_tendens(uow: FakeUnitOfWork) -> tuple[Plan, str]:
    """Tendens approved, with its six issues as one series; the series' activity id."""
    plan = await tendens_plan(uow)
    job_centres = Audience(
        id="job-centres",
        name="Jobcentre i Midtjylland",
        kind="organisations",
        needs="",
        preferred_channels=[],
        created_at=NOW,
    )
    plan.add_audience(job_centres, Edit("seed", NOW))  # as if linked earlier
    uow.plans.seen.append(plan)
    await uow.commit()
    message = schemas.MessageCreate(
        audience_id=job_centres.id, subject="Ledigheden falder", body="Tredje kvartal i træk."
    )
    await commands.add_message(uow, plan.id, message, PLANNER, lix_threshold=55)
    channel, _ = await commands.add_channel(
        uow, plan.id, schemas.ChannelCreate(kind="newsletter", name="Tendens"), PLANNER
    )
    issues = schemas.ActivityCreate(
        title="Tendens",
        kind="communication",
        audience_id=job_centres.id,
        message_id=plan.messages[0].id,
        channel_id=channel.id,
        starts_at=datetime(2015, 9, 1, 8, tzinfo=UTC),
        recurrence="FREQ=MONTHLY;INTERVAL=2;COUNT=6",
    )
    activity, _ = await commands.add_activity(uow, plan.id, issues, PLANNER)
    await commands.approve_plan(uow, plan.id, PLANNER, None)
    uow.outbox.clear()
    return plan, activity.id


async def test_an_approved_plans_change_needs_a_reason_and_becomes_a_deviation() -> None:
    uow = FakeUnitOfWork()
    plan, _ = await approved_tendens(uow)
    commits = uow.commits
    with pytest.raises(RuleViolation):
        await commands.update_plan(uow, plan.id, schemas.PlanUpdate(title="Tendens 2016"), PLANNER)
    assert plan.title == "Tendens 2015" and uow.commits == commits
    change = schemas.PlanUpdate(title="Tendens 2016", reason="a new year", agreed_by="Rådet")
    await commands.update_plan(uow, plan.id, change, PLANNER, frozenset({plan.version}))
    assert plan.title == "Tendens 2016" and plan.owner == "BRMJ"  # what was left out stays
    assert [(d.reason, d.agreed_by) for d in plan.deviations] == [("a new year", "Rådet")]
    assert [type(data) for data, _ in uow.outbox] == [PlanRevised]


async def test_cancelling_an_activity_tells_the_other_services_then_closing_ends_the_plan() -> None:
    uow = FakeUnitOfWork()
    plan, activity_id = await approved_tendens(uow)
    why = schemas.AgreedChange(reason="the region merged", agreed_by="Rådet")
    activity, _ = await commands.cancel_activity(uow, plan.id, activity_id, why, PLANNER, None)
    assert activity.cancelled_at == NOW
    # a deviation that concerns an activity is published on its own; the plan's revision too
    published = [type(data) for data, _ in uow.outbox]
    assert published == [DeviationRecorded, ActivityCancelled, PlanRevised]
    assert uow.outbox[1][1] == activity_id  # keyed by the activity: after its approval
    with pytest.raises(Conflict):
        await commands.cancel_activity(uow, plan.id, activity_id, why, PLANNER, None)
    await commands.close_plan(uow, plan.id, PLANNER, frozenset({plan.version}))
    assert plan.status == "closed" and type(uow.outbox[-1][0]) is PlanClosed
    assert uow.history[-1][0:2] == (plan.id, plan.version)
