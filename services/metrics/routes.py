"""The metrics service's HTTP API: counts per plan, and each goal's measured values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from services.metrics import kpis, queries, reports, schemas
from services.metrics.settings import MetricsSettings
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.http import UnitOfWorkDep, get_settings
from shared.pagination import Limit, Offset, Page
from shared.time import PlanDate

router = APIRouter(prefix="/v1/plans", tags=["metrics"])

# planners set the goals; analysts run the surveys that measure them
Reporter = Annotated[Principal, require_roles(Role.PLANNER, Role.ANALYST)]
SettingsDep = Annotated[MetricsSettings, Depends(get_settings)]
# a report's link opens it to anyone who has the link: for those who plan and evaluate
ReportReader = Annotated[
    Principal, require_roles(Role.PLANNER, Role.ANALYST, Role.EVENT_MANAGER, Role.COMMUNICATOR)
]


@router.get("/{plan_id}/counts", response_model=schemas.PlanCounts)
async def plan_counts(plan_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> schemas.PlanCounts:
    """How many events of each type were seen for the plan (zero counts for an unknown plan)."""
    async with uow:
        return await queries.plan_counts(uow.session, plan_id)


@router.get("/{plan_id}/kpis", response_model=schemas.PlanKpis)
async def plan_kpis(plan_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> schemas.PlanKpis:
    """Each goal of the plan with its latest measured value (no goals: the plan is not
    approved yet, or unknown)."""
    async with uow:
        return await queries.plan_kpis(uow.session, plan_id)


@router.post(
    "/{plan_id}/goals/{goal_id}/measurements",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.MeasurementPublic,
)
async def report_measurement(
    plan_id: str,
    goal_id: str,
    body: schemas.MeasurementCreate,
    uow: UnitOfWorkDep,
    principal: Reporter,
    response: Response,
) -> schemas.MeasurementPublic:
    """A value a person measured for a goal (a survey, say); published as kpi.measured.v1
    (source reported). Goals the service counts itself cannot be reported."""
    async with uow:
        measurement = await kpis.report(
            uow,
            plan_id,
            goal_id,
            value=body.value,
            measured_on=body.measured_on,
            note=body.note,
            by=principal,
        )
        await uow.commit()
    response.headers["Location"] = (
        f"/v1/plans/{plan_id}/goals/{goal_id}/measurements/{measurement.id}"
    )
    return schemas.MeasurementPublic.model_validate(measurement)


@router.get(
    "/{plan_id}/goals/{goal_id}/measurements", response_model=Page[schemas.MeasurementPublic]
)
async def list_measurements(
    plan_id: str,
    goal_id: str,
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.MeasurementPublic]:
    """The goal's measured values, newest first (kept for a goal a revision removed)."""
    async with uow:
        return await queries.measurements_page(uow, plan_id, goal_id, limit=limit, offset=offset)


@router.get(
    "/{plan_id}/goals/{goal_id}/measurements/{measurement_id}",
    response_model=schemas.MeasurementPublic,
)
async def get_measurement(
    plan_id: str, goal_id: str, measurement_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> schemas.MeasurementPublic:
    async with uow:
        return await queries.measurement(uow.session, plan_id, goal_id, measurement_id)


def _period(
    period_start: PlanDate | None = None, period_end: PlanDate | None = None
) -> reports.Period:
    """A period of days, both included (for the yearly revision, say): none, the whole plan."""
    return reports.Period(period_start, period_end)


ReportPeriod = Annotated[reports.Period, Depends(_period)]


@router.get("/{plan_id}/report", response_model=schemas.PlanReport)
async def plan_report(
    plan_id: str, uow: UnitOfWorkDep, _: ReportReader, settings: SettingsDep, period: ReportPeriod
) -> schemas.PlanReport:
    """The plan measured: each goal against its target; each activity's messages and reach;
    each event's registrations, attendance, no-shows and satisfaction; messages sent per day;
    satisfaction scores — over the whole plan, or the days from `period_start` to `period_end`
    (goals as last measured by its end). `page` links to the same as a page with charts, to
    print or share."""
    async with uow:
        report = await reports.plan_report(uow, plan_id, period)
    return report.model_copy(update={"page": reports.report_link(settings, plan_id, period)})


@router.get(
    "/{plan_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def plan_report_csv(
    plan_id: str, uow: UnitOfWorkDep, _: ReportReader, period: ReportPeriod
) -> Response:
    """The report as one table: a row per goal, activity and event."""
    async with uow:
        report = await reports.plan_report(uow, plan_id, period)
    return Response(
        "\ufeff" + reports.csv_rows(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}-report.csv"'},
    )
