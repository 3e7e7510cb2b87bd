"""Read models of the metrics service's API: counts per plan, goals with their latest
measured values, measurements, surveys. (Reports are built in reports.py.)"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics import kpis, schemas
from services.metrics.tables import KpiGoal, KpiMeasurement, PlanCount, Survey
from shared.contracts.metrics import attained
from shared.errors import NotFound
from shared.pagination import Page, fetch_page, page_of
from shared.uow import UnitOfWork


async def plan_counts(session: AsyncSession, plan_id: str) -> schemas.PlanCounts:
    rows = await session.scalars(select(PlanCount).where(PlanCount.plan_id == plan_id))
    counts = {row.event_type: row.count for row in rows}
    return schemas.PlanCounts(plan_id=plan_id, counts=counts, total=sum(counts.values()))


async def plan_kpis(session: AsyncSession, plan_id: str) -> schemas.PlanKpis:
    rows = await session.execute(kpis.goals_with_latest_values().where(KpiGoal.plan_id == plan_id))
    return schemas.PlanKpis(plan_id=plan_id, kpis=[_kpi(goal, m) for goal, m in rows])


def _kpi(goal: KpiGoal, measurement: KpiMeasurement | None) -> schemas.Kpi:
    value = None if measurement is None else measurement.value
    return schemas.Kpi(
        goal_id=goal.goal_id,
        metric=goal.metric,
        counted=goal.counted_metric is not None,
        target=goal.target,
        unit=goal.unit,
        deadline=goal.deadline,
        value=value,
        measured_at=None if measurement is None else measurement.measured_at,
        source=None if measurement is None else measurement.source,
        attained=attained(value, goal.target),
    )


async def measurements_page(
    uow: UnitOfWork, plan_id: str, goal_id: str, *, limit: int, offset: int
) -> Page[schemas.MeasurementPublic]:
    """The goal's measured values, newest first; an unknown goal is a 404 (a goal a
    revision removed keeps its values)."""
    rows, total = await fetch_page(
        uow.session, kpis.measurements_of(plan_id, goal_id), limit=limit, offset=offset
    )
    if total == 0:
        await kpis.known_goal(uow, plan_id, goal_id)
    items = [schemas.MeasurementPublic.model_validate(m) for m in rows]
    return Page[schemas.MeasurementPublic](items=items, total=total, limit=limit, offset=offset)


async def measurement(
    session: AsyncSession, plan_id: str, goal_id: str, measurement_id: str
) -> schemas.MeasurementPublic:
    found = await session.scalar(
        kpis.measurements_of(plan_id, goal_id).where(KpiMeasurement.id == measurement_id)
    )
    if found is None:
        raise NotFound(f"no measurement {measurement_id} of goal {goal_id}")
    return schemas.MeasurementPublic.model_validate(found)


async def surveys_page(
    session: AsyncSession, *, event_id: str | None, plan_id: str | None, limit: int, offset: int
) -> Page[schemas.SurveyPublic]:
    query = select(Survey).order_by(Survey.created_at.desc(), Survey.id)
    if event_id:
        query = query.where(Survey.event_id == event_id)
    if plan_id:
        query = query.where(Survey.plan_id == plan_id)
    return await page_of(session, query, schemas.SurveyPublic, limit=limit, offset=offset)
