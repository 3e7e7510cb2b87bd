"""The KPI use cases: keep each plan's goals, record measured values and publish each one as
kpi.measured.v1 in the same unit of work; and read a goal's latest value."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, delete, select, text

from services.metrics import domain
from services.metrics.tables import KpiGoal, KpiMeasurement, PlanCount
from shared.auth import Principal
from shared.contracts.metrics import KpiMeasured
from shared.contracts.planning import GoalRef
from shared.errors import NotFound
from shared.uow import UnitOfWork

PLAN_LOCK_CLASS = 4242  # PostgreSQL advisory locks of the metrics service, keyed by plan


async def lock_plan(uow: UnitOfWork, plan_id: str) -> None:
    """One handler at a time per plan, across replicas: storing goals reads the counts, and
    counting reads the goals, so neither may miss what the other is committing. (SQLite's
    write lock already does this.)"""
    if uow.session.bind.dialect.name == "postgresql":
        await uow.session.execute(
            text("SELECT pg_advisory_xact_lock(:class, hashtext(:plan))"),
            {"class": PLAN_LOCK_CLASS, "plan": plan_id},
        )


def record(
    uow: UnitOfWork, measured: KpiMeasured, *, note: str | None = None, by: str | None = None
) -> KpiMeasurement:
    """Keep the measured value and publish it (keyed by plan: a plan's values stay in order)."""
    envelope = uow.publish(measured, subject=measured.plan_id)
    measurement = KpiMeasurement(
        id=envelope.id,
        plan_id=measured.plan_id,
        goal_id=measured.goal_id,
        metric=measured.metric,
        value=measured.value,
        target=measured.target,
        unit=measured.unit,
        source=measured.source,
        measured_at=measured.measured_at,
        note=note,
        recorded_by=by,
        recorded_at=envelope.time,
    )
    uow.session.add(measurement)
    return measurement


async def replace_goals(uow: UnitOfWork, plan_id: str, goals: list[GoalRef]) -> None:
    """The plan's goals are now `goals`; counted ones whose count is already known are
    measured at once (their events may have come before the plan)."""
    stored = await uow.session.scalars(select(KpiGoal).where(KpiGoal.plan_id == plan_id))
    previous = {goal.goal_id: goal.ref() for goal in stored}
    await uow.session.execute(delete(KpiGoal).where(KpiGoal.plan_id == plan_id))
    uow.session.add_all(
        KpiGoal(
            plan_id=plan_id,
            goal_id=goal.id,
            ordinal=ordinal,
            metric=goal.metric,
            counted_metric=domain.counted_metric(goal.metric),
            target=goal.target,
            unit=goal.unit,
            deadline=goal.deadline,
        )
        for ordinal, goal in enumerate(goals)
    )
    counts = await uow.session.execute(
        select(PlanCount.event_type, PlanCount.count).where(PlanCount.plan_id == plan_id)
    )
    now = uow.now()
    for goal, count in domain.goals_to_announce(previous, goals, dict(counts.all())):
        record(uow, domain.counted_measurement(plan_id, goal, count, now))


async def measure_counted(uow: UnitOfWork, plan_id: str, event_type: str) -> None:
    """The plan's count of `event_type` changed: publish it for each goal measured by it."""
    metrics = domain.metrics_counted_from(event_type)
    goals = list(
        await uow.session.scalars(
            select(KpiGoal).where(KpiGoal.plan_id == plan_id, KpiGoal.counted_metric.in_(metrics))
        )
    )
    if not goals:
        return
    count = await uow.session.scalar(
        select(PlanCount.count).where(
            PlanCount.plan_id == plan_id, PlanCount.event_type == event_type
        )
    )
    now = uow.now()
    for goal in goals:
        record(uow, domain.counted_measurement(plan_id, goal.ref(), count or 0, now))


async def report(
    uow: UnitOfWork,
    plan_id: str,
    goal_id: str,
    *,
    value: float,
    measured_on: date | None,
    note: str | None,
    by: Principal,
) -> KpiMeasurement:
    """A value a person measured for a goal (a survey, say)."""
    goal = await known_goal(uow, plan_id, goal_id)
    today = uow.now().date()
    measured_on = measured_on or today
    domain.check_measured_on(measured_on, today)
    measured = domain.reported_measurement(plan_id, goal.ref(), value, measured_on)
    return record(uow, measured, note=note, by=by.subject)


async def known_goal(uow: UnitOfWork, plan_id: str, goal_id: str) -> KpiGoal:
    goal = await uow.session.get(KpiGoal, (plan_id, goal_id))
    if goal is None:
        raise NotFound(f"no goal {goal_id} of plan {plan_id} is known to the metrics service")
    return goal


def goals_with_latest_values() -> Select:
    """Each goal with its latest measurement (the last measured; of a day's, the last
    recorded), or None."""
    latest = (
        select(KpiMeasurement.position)
        .where(KpiMeasurement.plan_id == KpiGoal.plan_id, KpiMeasurement.goal_id == KpiGoal.goal_id)
        .order_by(KpiMeasurement.measured_at.desc(), KpiMeasurement.position.desc())
        .limit(1)
        .correlate(KpiGoal)
        .scalar_subquery()
    )
    return (
        select(KpiGoal, KpiMeasurement)
        .outerjoin(KpiMeasurement, KpiMeasurement.position == latest)
        .order_by(KpiGoal.plan_id, KpiGoal.ordinal)
    )


def measurements_of(plan_id: str, goal_id: str) -> Select:
    """A goal's measured values, newest first."""
    return (
        select(KpiMeasurement)
        .where(KpiMeasurement.plan_id == plan_id, KpiMeasurement.goal_id == goal_id)
        .order_by(KpiMeasurement.measured_at.desc(), KpiMeasurement.position.desc())
    )
