"""The strategies API: a strategy's tree and its yearly action plan."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response, status

from services.planning.settings import Settings
from services.planning.strategies import commands, queries, report, schemas
from services.planning.unit_of_work import PlanningUow
from shared.auth import CurrentPrincipal, Planner
from shared.http import UnitOfWorkDep, VersionNumber, if_match_versions
from shared.pagination import Limit, Offset, Page

router = APIRouter(prefix="/v1/strategies", tags=["strategies"])


ReportYear = Annotated[
    int | None,
    Query(
        ge=1900,
        le=2200,
        description="A year of the strategy's period; by default this year, or the nearest one.",
    ),
]
ActionPlanIfMatch = Annotated[
    str | None,
    Header(description='The latest version you saw, e.g. "2" ("0" for the first); else 412.'),
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.StrategyDetail)
async def create_strategy(
    body: schemas.StrategyCreate, uow: PlanningUow, _: Planner, response: Response
) -> schemas.StrategyDetail:
    """A strategy, optionally with its tree: `focus_areas`, their `children` (tracks) and
    theirs (sub-tracks)."""
    strategy_id = await commands.create_strategy(uow, body)
    response.headers["Location"] = f"/v1/strategies/{strategy_id}"
    async with uow:
        return await queries.strategy_detail(uow.session, strategy_id)


@router.get("", response_model=Page[schemas.StrategySummary])
async def list_strategies(
    uow: UnitOfWorkDep, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.StrategySummary]:
    async with uow:
        return await queries.strategies_page(uow.session, limit=limit, offset=offset)


@router.get("/{strategy_id}", response_model=schemas.StrategyDetail)
async def get_strategy(
    strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> schemas.StrategyDetail:
    """The strategy with its tree of focus areas, tracks and sub-tracks."""
    async with uow:
        return await queries.strategy_detail(uow.session, strategy_id)


@router.post(
    "/{strategy_id}/nodes", status_code=status.HTTP_201_CREATED, response_model=schemas.NodePublic
)
async def add_node(
    strategy_id: str, body: schemas.NodeCreate, uow: PlanningUow, _: Planner
) -> object:
    """Add a focus area (no `parent_id`), a track (under a focus area) or a sub-track."""
    return await commands.add_node(uow, strategy_id, body)


@router.post(
    "/{strategy_id}/action-plan/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActionPlanVersionPublic,
)
async def revise_action_plan(
    strategy_id: str,
    body: schemas.ActionPlanRevise,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: ActionPlanIfMatch = None,
) -> object:
    """Revise the action plan: the whole list of initiatives for a year becomes the next
    version; earlier versions are kept unchanged."""
    revision = await commands.revise_action_plan(
        uow, strategy_id, body, by, if_match_versions(if_match)
    )
    response.headers["Location"] = (
        f"/v1/strategies/{strategy_id}/action-plan/versions/{revision.version}"
    )
    response.headers["ETag"] = f'"{revision.version}"'
    return revision


@router.get("/{strategy_id}/action-plan", response_model=schemas.ActionPlanVersionPublic)
async def current_action_plan(
    strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal, response: Response
) -> object:
    """The latest version of the action plan."""
    async with uow:
        revision = await queries.action_plan_version(uow.session, strategy_id)
    response.headers["ETag"] = f'"{revision.version}"'
    return revision


@router.get(
    "/{strategy_id}/action-plan/versions", response_model=list[schemas.ActionPlanVersionPublic]
)
async def action_plan_versions(strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> object:
    """Every revision of the action plan, oldest first."""
    async with uow:
        return await queries.action_plan_versions(uow.session, strategy_id)


@router.get(
    "/{strategy_id}/action-plan/versions/{version}",
    response_model=schemas.ActionPlanVersionPublic,
)
async def action_plan_version(
    strategy_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
) -> object:
    async with uow:
        return await queries.action_plan_version(uow.session, strategy_id, version)


@router.get("/{strategy_id}/action-plan/diff", response_model=schemas.ActionPlanDiff)
async def action_plan_diff(
    strategy_id: str,
    from_version: VersionNumber,
    to_version: VersionNumber,
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
) -> schemas.ActionPlanDiff:
    """What changed from one version of the action plan to another: initiatives added,
    removed, and changed (matched by track and initiative), field by field."""
    async with uow:
        return await queries.action_plan_diff(uow.session, strategy_id, from_version, to_version)


@router.get("/{strategy_id}/report", response_model=schemas.StrategyReport)
async def strategy_report(
    strategy_id: str,
    uow: UnitOfWorkDep,
    settings: Settings,
    _: CurrentPrincipal,
    year: ReportYear = None,
) -> schemas.StrategyReport:
    """What a year of the strategy achieved, track by track — where its yearly revision
    starts: the year's initiatives from the action plan, and the plans on the track with each
    goal against its target and each activity with what was sent and who came."""
    async with uow:
        found = await report.strategy_report(uow.session, strategy_id, year, uow.now())
    return found.model_copy(update={"page": report.report_link(settings, strategy_id, found.year)})


@router.get(
    "/{strategy_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def strategy_report_csv(
    strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal, year: ReportYear = None
) -> Response:
    """The report as one table: per track its initiatives, then each plan's goals and
    activities."""
    async with uow:
        found = await report.strategy_report(uow.session, strategy_id, year, uow.now())
    return Response(
        "\ufeff" + report.csv_rows(found),  # the mark tells Excel it is UTF-8 (æ, ø, å)
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="strategy-{strategy_id}-{found.year}.csv"'
        },
    )
