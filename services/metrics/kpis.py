"""The KPI use cases: keep each plan's goals; measure the counted ones when what they count
changed (coalesced: one round per interval) and record what people report, publishing each
value as kpi.measured.v1 in the same unit of work; and read a goal's latest value."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from sqlalchemy import Select, delete, select

from services.metrics import domain, measures
from services.metrics.settings import MetricsSettings
from services.metrics.tables import KpiDue, KpiGoal, KpiMeasurement
from services.metrics.tally import Tally
from shared.auth import Principal
from shared.contracts.metrics import KpiMeasured
from shared.contracts.planning import GoalRef
from shared.errors import NotFound
from shared.runtime import Runtime
from shared.uow import UnitOfWork


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
    """The plan's goals are now `goals`; its counted ones are measured with the next round."""
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
    mark_due(uow, plan_id)


def mark_due(uow: UnitOfWork, plan_id: str) -> None:
    """Something the plan's counted goals are measured from changed (in this unit of work):
    marked at its commit."""
    uow.pending(Tally).due.add(plan_id)


async def measure_due(uow: UnitOfWork, limit: int = 100) -> int:
    """Measure the counted goals of plans marked due, publishing kpi.measured.v1 for each
    goal whose value changed (and kpi.threshold_crossed.v1 when it became attained or fell
    behind): one value per goal per round, however many events were counted. How many plans."""
    plans = list(
        await uow.session.scalars(
            select(KpiDue.plan_id)
            .order_by(KpiDue.since)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for plan_id in plans:
        await measure_plan(uow, plan_id)
    await uow.session.execute(delete(KpiDue).where(KpiDue.plan_id.in_(plans)))
    return len(plans)


async def measure_plan(uow: UnitOfWork, plan_id: str) -> None:
    goals = list(
        await uow.session.scalars(
            select(KpiGoal).where(KpiGoal.plan_id == plan_id, KpiGoal.counted_metric.is_not(None))
        )
    )
    now = uow.now()
    for goal in goals:
        value = await measures.value_of(
            uow.session, plan_id, goal.counted_metric or "", goal.goal_id
        )
        if value is None:
            continue
        latest = await uow.session.scalar(measurements_of(plan_id, goal.goal_id).limit(1))
        ref = goal.ref()
        if not domain.is_news(ref, value, latest):
            continue
        measured = domain.counted_measurement(plan_id, ref, value, now)
        record(uow, measured)
        crossed = domain.crossing(plan_id, ref, None if latest is None else latest.value, measured)
        if crossed is not None:
            uow.publish(crossed, subject=plan_id)


async def recount_metrics(uow: UnitOfWork) -> int:
    """Bring each goal's `counted_metric` in line with what this version counts: a goal stored
    before its metric was counted here (or by a version that read its name differently) is
    measured from now on — its plan marked due — without waiting for the plan's next
    revision. How many goals changed."""
    changed = 0
    for metric in await uow.session.scalars(select(KpiGoal.metric).distinct()):
        counted = domain.counted_metric(metric)
        goals = await uow.session.scalars(
            select(KpiGoal).where(
                KpiGoal.metric == metric, KpiGoal.counted_metric.is_distinct_from(counted)
            )
        )
        for goal in goals:
            goal.counted_metric = counted
            mark_due(uow, goal.plan_id)
            changed += 1
    return changed


async def run_measurements(runtime: Runtime[MetricsSettings]) -> None:
    """The worker that measures due plans every `kpi_interval_seconds` (a durable mark: a
    crash measures them after the restart); it starts by recounting the goals' metrics."""
    async with runtime.uow() as uow:
        await recount_metrics(uow)
        await uow.commit()
    limit = 100
    while True:
        async with runtime.uow() as uow:
            measured = await measure_due(uow, limit)
            await uow.commit()
        if measured < limit:  # caught up: the next round after an interval (that coalesces)
            await asyncio.sleep(runtime.settings.kpi_interval_seconds)


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


def goals_with_latest_values(measured_before: datetime | None = None) -> Select:
    """Each goal with its latest measurement (the last measured; of a day's, the last
    recorded) — of those measured before `measured_before`, if given — or None."""
    before = [] if measured_before is None else [KpiMeasurement.measured_at < measured_before]
    latest = (
        select(KpiMeasurement.position)
        .where(
            KpiMeasurement.plan_id == KpiGoal.plan_id,
            KpiMeasurement.goal_id == KpiGoal.goal_id,
            *before,
        )
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
