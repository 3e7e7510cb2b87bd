"""The plans API, with the organisation's audiences and partners that plans draw on:
translate HTTP to commands and queries and back, nothing more."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Response, status
from sqlalchemy import select

from services.planning.domain import PlanStatus
from services.planning.plans import commands, queries, schemas
from services.planning.plans.model import Plan
from services.planning.settings import Settings
from services.planning.tables import Audience, Partner
from services.planning.unit_of_work import PlanningUow
from shared.auth import CurrentPrincipal, Planner
from shared.http import VersionNumber, if_match_versions
from shared.pagination import Limit, Offset, Page, page_of

router = APIRouter(prefix="/v1/plans", tags=["plans"])


def _etag(plan: Plan) -> str:
    return f'"{plan.version}"'


IfMatch = Annotated[
    str | None, Header(description="The plan's ETag as you saw it; a stale one gets 412.")
]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PlanSummary)
async def create_plan(
    body: schemas.PlanCreate, uow: PlanningUow, by: Planner, response: Response
) -> Plan:
    plan = await commands.create_plan(uow, body, by)
    response.headers["Location"] = f"/v1/plans/{plan.id}"
    response.headers["ETag"] = _etag(plan)
    return plan


@router.get("", response_model=Page[schemas.PlanSummary])
async def list_plans(
    uow: PlanningUow,
    _: CurrentPrincipal,
    status: PlanStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.PlanSummary]:
    async with uow:
        plans, total = await queries.list_plans(
            uow.session, status=status, limit=limit, offset=offset
        )
    return Page[schemas.PlanSummary](
        items=[schemas.PlanSummary.model_validate(p) for p in plans],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{plan_id}", response_model=schemas.PlanDetail)
async def get_plan(
    plan_id: str, uow: PlanningUow, settings: Settings, _: CurrentPrincipal, response: Response
) -> schemas.PlanDetail:
    """The plan with its parts, what other services did with its activities, and its clashes
    with other plans that reach the same audiences in the same weeks."""
    window = timedelta(days=settings.overlap_window_days)
    async with uow:
        detail = await queries.plan_detail(uow.session, plan_id, window)
    response.headers["ETag"] = f'"{detail.version}"'
    return detail


@router.patch("/{plan_id}", response_model=schemas.PlanSummary)
async def update_plan(
    plan_id: str,
    body: schemas.PlanUpdate,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> Plan:
    """Change the plan's title, owner, sender, track or period. On an approved plan this is a
    deviation: give `reason` and `agreed_by`."""
    plan = await commands.update_plan(uow, plan_id, body, by, if_match_versions(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.get("/{plan_id}/versions", response_model=Page[schemas.PlanVersionSummary])
async def plan_versions(
    plan_id: str, uow: PlanningUow, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.PlanVersionSummary]:
    """Every version of the plan, oldest first: what changed, who and when."""
    async with uow:
        query = await queries.plan_versions(uow.session, plan_id)
        return await page_of(
            uow.session, query, schemas.PlanVersionSummary, limit=limit, offset=offset
        )


@router.get("/{plan_id}/versions/{version}", response_model=schemas.PlanVersionPublic)
async def plan_version(
    plan_id: str,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
    uow: PlanningUow,
    _: CurrentPrincipal,
) -> object:
    """The plan as it was at that version."""
    async with uow:
        return await queries.plan_version(uow.session, plan_id, version)


@router.get("/{plan_id}/diff", response_model=schemas.PlanVersionDiff)
async def plan_diff(
    plan_id: str,
    from_version: VersionNumber,
    to_version: VersionNumber,
    uow: PlanningUow,
    _: CurrentPrincipal,
) -> schemas.PlanVersionDiff:
    """What changed between two versions: the plan's fields, and its parts added, removed and
    changed."""
    async with uow:
        return await queries.plan_diff(uow.session, plan_id, from_version, to_version)


@router.post(
    "/{plan_id}/goals", status_code=status.HTTP_201_CREATED, response_model=schemas.GoalPublic
)
async def add_goal(
    plan_id: str,
    body: schemas.GoalCreate,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    goal, plan = await commands.add_goal(uow, plan_id, body, by, if_match_versions(if_match))
    response.headers["ETag"] = _etag(plan)
    return goal


@router.post(
    "/{plan_id}/audiences",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AudiencePublic,
)
async def add_audience(
    plan_id: str,
    body: schemas.PlanAudienceAdd,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    audience, plan = await commands.add_audience(
        uow, plan_id, body, by, if_match_versions(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return audience


@router.post(
    "/{plan_id}/messages", status_code=status.HTTP_201_CREATED, response_model=schemas.MessagePublic
)
async def add_message(
    plan_id: str,
    body: schemas.MessageCreate,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    settings: Settings,
    if_match: IfMatch = None,
) -> object:
    message, plan = await commands.add_message(
        uow,
        plan_id,
        body,
        by,
        if_match_versions(if_match),
        lix_threshold=settings.lix_warning_threshold,
    )
    response.headers["ETag"] = _etag(plan)
    return message


@router.post(
    "/{plan_id}/channels", status_code=status.HTTP_201_CREATED, response_model=schemas.ChannelPublic
)
async def add_channel(
    plan_id: str,
    body: schemas.ChannelCreate,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    channel, plan = await commands.add_channel(uow, plan_id, body, by, if_match_versions(if_match))
    response.headers["ETag"] = _etag(plan)
    return channel


@router.post(
    "/{plan_id}/activities",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivityPublic,
)
async def add_activity(
    plan_id: str,
    body: schemas.ActivityCreate,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Add an activity. On an approved plan it is a deviation (`reason`, `agreed_by`) and must
    be complete, as it is published at once."""
    activity, plan = await commands.add_activity(
        uow, plan_id, body, by, if_match_versions(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post(
    "/{plan_id}/activities/{activity_id}/reschedule", response_model=schemas.ActivityPublic
)
async def reschedule_activity(
    plan_id: str,
    activity_id: str,
    body: schemas.Reschedule,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Move an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.reschedule_activity(
        uow, plan_id, activity_id, body, by, if_match_versions(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/activities/{activity_id}/cancel", response_model=schemas.ActivityPublic)
async def cancel_activity(
    plan_id: str,
    activity_id: str,
    body: schemas.AgreedChange,
    uow: PlanningUow,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Cancel an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.cancel_activity(
        uow, plan_id, activity_id, body, by, if_match_versions(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/submit", response_model=schemas.PlanSummary)
async def submit_plan(
    plan_id: str, uow: PlanningUow, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Send a draft to management for review (draft → in review)."""
    plan = await commands.submit_plan(uow, plan_id, by, if_match_versions(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.post("/{plan_id}/close", response_model=schemas.PlanSummary)
async def close_plan(
    plan_id: str, uow: PlanningUow, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Close an approved or active plan when its work is done."""
    plan = await commands.close_plan(uow, plan_id, by, if_match_versions(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.post("/{plan_id}/approve", response_model=schemas.PlanSummary)
async def approve_plan(
    plan_id: str,
    uow: PlanningUow,
    approver: Planner,
    response: Response,
    settings: Settings,
    if_match: IfMatch = None,
) -> Plan:
    """Approve the plan and publish it. Send `If-Match` with the ETag you reviewed. Where the
    four-eyes rule is on, the plan must be in review and you must not be who submitted it."""
    plan = await commands.approve_plan(
        uow, plan_id, approver, if_match_versions(if_match), four_eyes=settings.four_eyes_approval
    )
    response.headers["ETag"] = _etag(plan)
    return plan


audiences = APIRouter(prefix="/v1/audiences", tags=["audiences"])


@audiences.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.AudiencePublic)
async def create_audience(
    body: schemas.AudienceCreate, uow: PlanningUow, _: Planner, response: Response
) -> object:
    """An audience of the organisation, for plans to reach (and contacts to belong to)."""
    audience = await commands.create_audience(uow, body)
    response.headers["Location"] = f"/v1/audiences/{audience.id}"
    return audience


@audiences.get("", response_model=Page[schemas.AudiencePublic])
async def list_audiences(
    uow: PlanningUow, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.AudiencePublic]:
    query = select(Audience).order_by(Audience.name, Audience.id)
    async with uow:
        return await page_of(uow.session, query, schemas.AudiencePublic, limit=limit, offset=offset)


@audiences.get("/{audience_id}", response_model=schemas.AudiencePublic)
async def get_audience(audience_id: str, uow: PlanningUow, _: CurrentPrincipal) -> object:
    async with uow:
        return await queries.get_one(uow.session, Audience, audience_id, "audience")


partners = APIRouter(prefix="/v1/partners", tags=["partners"])


@partners.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PartnerPublic)
async def create_partner(
    body: schemas.PartnerCreate, uow: PlanningUow, _: Planner, response: Response
) -> object:
    """A co-organiser (KL, a union, a university) that activities of any plan can name."""
    partner = await commands.create_partner(uow, body)
    response.headers["Location"] = f"/v1/partners/{partner.id}"
    return partner


@partners.get("", response_model=Page[schemas.PartnerPublic])
async def list_partners(
    uow: PlanningUow, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.PartnerPublic]:
    query = select(Partner).order_by(Partner.name, Partner.id)
    async with uow:
        return await page_of(uow.session, query, schemas.PartnerPublic, limit=limit, offset=offset)


@partners.get("/{partner_id}", response_model=schemas.PartnerPublic)
async def get_partner(partner_id: str, uow: PlanningUow, _: CurrentPrincipal) -> object:
    async with uow:
        return await queries.get_one(uow.session, Partner, partner_id, "partner")
