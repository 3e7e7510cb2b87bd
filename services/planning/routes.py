"""Planning's HTTP API: translate HTTP to commands and back, nothing more."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Response, status
from icalendar import Calendar, Event
from pydantic import AwareDatetime
from sqlalchemy import select

from services.planning import commands, queries, schemas
from services.planning import stakeholders as stakeholders_
from services.planning import strategies as strategies_
from services.planning.domain import GatekeeperRole, PlanStatus
from services.planning.plans.model import Plan
from services.planning.settings import PlanningSettings
from services.planning.tables import Audience, Partner, Stakeholder, Strategy
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.contracts.vocabulary import ChannelKind
from shared.errors import PreconditionFailed
from shared.http import Now, UnitOfWorkDep, get_settings
from shared.pagination import Limit, Offset, Page, page_of

router = APIRouter(prefix="/v1/plans", tags=["plans"])

Planner = Annotated[Principal, require_roles(Role.PLANNER)]
Settings = Annotated[PlanningSettings, Depends(get_settings)]


def _etag(plan: Plan) -> str:
    return f'"{plan.version}"'


def _if_match(if_match: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts (RFC 9110: "*", or a list of strong ETags);
    None for any."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    try:
        # a weak ETag never matches in a strong comparison
        versions = frozenset(int(tag.strip('"')) for tag in tags if not tag.startswith("W/"))
    except ValueError:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this API") from None
    if not versions:
        raise PreconditionFailed("If-Match needs the strong ETag the plan was served with")
    return versions


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PlanSummary)
async def create_plan(
    body: schemas.PlanCreate, uow: UnitOfWorkDep, by: Planner, response: Response
) -> Plan:
    plan = await commands.create_plan(uow, body, by)
    response.headers["Location"] = f"/v1/plans/{plan.id}"
    response.headers["ETag"] = _etag(plan)
    return plan


@router.get("", response_model=Page[schemas.PlanSummary])
async def list_plans(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    status: PlanStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.PlanSummary]:
    async with uow:
        plans, total = await commands.list_plans(
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
    plan_id: str, uow: UnitOfWorkDep, settings: Settings, _: CurrentPrincipal, response: Response
) -> schemas.PlanDetail:
    """The plan with its parts, what other services did with its activities, and its clashes
    with other plans that reach the same audiences in the same weeks."""
    window = timedelta(days=settings.overlap_window_days)
    async with uow:
        detail = await queries.plan_detail(uow.session, plan_id, window)
    response.headers["ETag"] = f'"{detail.version}"'
    return detail


IfMatch = Annotated[
    str | None, Header(description="The plan's ETag as you saw it; a stale one gets 412.")
]
VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]


@router.patch("/{plan_id}", response_model=schemas.PlanSummary)
async def update_plan(
    plan_id: str,
    body: schemas.PlanUpdate,
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> Plan:
    """Change the plan's title, owner, sender, track or period. On an approved plan this is a
    deviation: give `reason` and `agreed_by`."""
    plan = await commands.update_plan(uow, plan_id, body, by, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.get("/{plan_id}/versions", response_model=Page[schemas.PlanVersionSummary])
async def plan_versions(
    plan_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
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
    uow: UnitOfWorkDep,
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
    uow: UnitOfWorkDep,
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
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    goal, plan = await commands.add_goal(uow, plan_id, body, by, _if_match(if_match))
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
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    audience, plan = await commands.add_audience(uow, plan_id, body, by, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return audience


@router.post(
    "/{plan_id}/messages", status_code=status.HTTP_201_CREATED, response_model=schemas.MessagePublic
)
async def add_message(
    plan_id: str,
    body: schemas.MessageCreate,
    uow: UnitOfWorkDep,
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
        _if_match(if_match),
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
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    channel, plan = await commands.add_channel(uow, plan_id, body, by, _if_match(if_match))
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
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Add an activity. On an approved plan it is a deviation (`reason`, `agreed_by`) and must
    be complete, as it is published at once."""
    activity, plan = await commands.add_activity(uow, plan_id, body, by, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post(
    "/{plan_id}/activities/{activity_id}/reschedule", response_model=schemas.ActivityPublic
)
async def reschedule_activity(
    plan_id: str,
    activity_id: str,
    body: schemas.Reschedule,
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Move an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.reschedule_activity(
        uow, plan_id, activity_id, body, by, _if_match(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/activities/{activity_id}/cancel", response_model=schemas.ActivityPublic)
async def cancel_activity(
    plan_id: str,
    activity_id: str,
    body: schemas.AgreedChange,
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> object:
    """Cancel an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.cancel_activity(
        uow, plan_id, activity_id, body, by, _if_match(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/submit", response_model=schemas.PlanSummary)
async def submit_plan(
    plan_id: str, uow: UnitOfWorkDep, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Send a draft to management for review (draft → in review)."""
    plan = await commands.submit_plan(uow, plan_id, by, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.post("/{plan_id}/close", response_model=schemas.PlanSummary)
async def close_plan(
    plan_id: str, uow: UnitOfWorkDep, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Close an approved or active plan when its work is done."""
    plan = await commands.close_plan(uow, plan_id, by, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.post("/{plan_id}/approve", response_model=schemas.PlanSummary)
async def approve_plan(
    plan_id: str,
    uow: UnitOfWorkDep,
    approver: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> Plan:
    """Approve the plan and publish it. Send `If-Match` with the ETag you reviewed."""
    plan = await commands.approve_plan(uow, plan_id, approver, _if_match(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


calendar = APIRouter(prefix="/v1/calendar", tags=["calendar"])


async def _entries(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    starts_from: AwareDatetime | None = None,
    starts_before: AwareDatetime | None = None,
    plan_id: str | None = None,
    audience_id: str | None = None,
    channel: ChannelKind | None = None,
    track_id: Annotated[
        str | None, Query(description="A strategy node: plans linked to it or below it.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[schemas.CalendarEntry]:
    async with uow:
        return await queries.calendar(
            uow.session,
            starts_from=starts_from,
            starts_before=starts_before,
            plan_id=plan_id,
            audience_id=audience_id,
            channel=channel,
            track_id=track_id,
            limit=limit,
        )


Entries = Annotated[list[schemas.CalendarEntry], Depends(_entries)]


@calendar.get("", response_model=list[schemas.CalendarEntry])
async def calendar_json(entries: Entries) -> list[schemas.CalendarEntry]:
    """Activities across plans, by time (every occurrence of a recurring one); filter by
    period, plan, audience, channel and strategy track."""
    return entries


@calendar.get(".ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
async def calendar_ical(entries: Entries, now: Now) -> Response:
    """The same activities as an iCalendar (RFC 5545) feed for calendar programs."""
    return Response(to_ical(entries, now), media_type="text/calendar; charset=utf-8")


def to_ical(entries: list[schemas.CalendarEntry], generated: datetime) -> bytes:
    feed = Calendar()
    feed.add("prodid", "-//Budskab//planning calendar//DA")
    feed.add("version", "2.0")
    for entry in entries:
        item = Event()
        occurrence = f"-{entry.starts_at:%Y%m%dT%H%M%SZ}" if entry.recurring else ""
        item.add("uid", f"{entry.activity_id}{occurrence}@budskab")
        item.add("dtstamp", generated)
        item.add("dtstart", entry.starts_at)
        item.add("summary", entry.title)
        details = [f"Plan: {entry.plan_title} ({entry.plan_status})"]
        details += [f"Audience: {entry.audience}"] if entry.audience else []
        details += [f"Channel: {entry.channel}"] if entry.channel else []
        item.add("description", "\n".join(details))
        item.add("categories", [entry.kind])
        feed.add_component(item)
    return feed.to_ical()


stakeholders = APIRouter(prefix="/v1/stakeholders", tags=["stakeholders"])


@stakeholders.post(
    "", status_code=status.HTTP_201_CREATED, response_model=schemas.StakeholderPublic
)
async def create_stakeholder(
    body: schemas.StakeholderCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> object:
    stakeholder = await stakeholders_.create_stakeholder(uow, body)
    response.headers["Location"] = f"/v1/stakeholders/{stakeholder.id}"
    return stakeholder


@stakeholders.get("", response_model=Page[schemas.StakeholderPublic])
async def list_stakeholders(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    gatekeeper: GatekeeperRole | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.StakeholderPublic]:
    query = select(Stakeholder).order_by(Stakeholder.name, Stakeholder.id)
    if gatekeeper is not None:
        query = query.where(Stakeholder.gatekeeper == gatekeeper)
    async with uow:
        return await page_of(
            uow.session, query, schemas.StakeholderPublic, limit=limit, offset=offset
        )


@stakeholders.get("/{stakeholder_id}", response_model=schemas.StakeholderDetail)
async def get_stakeholder(
    stakeholder_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> schemas.StakeholderDetail:
    """The stakeholder with whom they know and the dialogue log."""
    async with uow:
        return await stakeholders_.stakeholder_detail(uow.session, stakeholder_id)


@stakeholders.post("/{stakeholder_id}/relations", status_code=status.HTTP_204_NO_CONTENT)
async def relate(
    stakeholder_id: str, body: schemas.RelationCreate, uow: UnitOfWorkDep, _: Planner
) -> None:
    """Record (or re-describe) that two stakeholders know each other."""
    await stakeholders_.relate_stakeholders(uow, stakeholder_id, body)


@stakeholders.post(
    "/{stakeholder_id}/dialogues",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DialoguePublic,
)
async def log_dialogue(
    stakeholder_id: str, body: schemas.DialogueCreate, uow: UnitOfWorkDep, by: Planner
) -> object:
    """Log a dialogue meeting: who took part, what came out, what follows and by when."""
    return await stakeholders_.log_dialogue(uow, stakeholder_id, body, by)


audiences = APIRouter(prefix="/v1/audiences", tags=["audiences"])


@audiences.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.AudiencePublic)
async def create_audience(
    body: schemas.AudienceCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> object:
    """An audience of the organisation, for plans to reach (and contacts to belong to)."""
    audience = await commands.create_audience(uow, body)
    response.headers["Location"] = f"/v1/audiences/{audience.id}"
    return audience


@audiences.get("", response_model=Page[schemas.AudiencePublic])
async def list_audiences(
    uow: UnitOfWorkDep, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.AudiencePublic]:
    query = select(Audience).order_by(Audience.name, Audience.id)
    async with uow:
        return await page_of(uow.session, query, schemas.AudiencePublic, limit=limit, offset=offset)


@audiences.get("/{audience_id}", response_model=schemas.AudiencePublic)
async def get_audience(audience_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> object:
    async with uow:
        return await commands.get_one(uow.session, Audience, audience_id, "audience")


strategies = APIRouter(prefix="/v1/strategies", tags=["strategies"])


@strategies.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.StrategyDetail)
async def create_strategy(
    body: schemas.StrategyCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> schemas.StrategyDetail:
    """A strategy, optionally with its tree: `focus_areas`, their `children` (tracks) and
    theirs (sub-tracks)."""
    strategy_id = await strategies_.create_strategy(uow, body)
    response.headers["Location"] = f"/v1/strategies/{strategy_id}"
    async with uow:
        return await strategies_.strategy_detail(uow.session, strategy_id)


@strategies.get("", response_model=Page[schemas.StrategySummary])
async def list_strategies(
    uow: UnitOfWorkDep, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.StrategySummary]:
    query = select(Strategy).order_by(Strategy.period_start, Strategy.id)
    async with uow:
        return await page_of(
            uow.session, query, schemas.StrategySummary, limit=limit, offset=offset
        )


@strategies.get("/{strategy_id}", response_model=schemas.StrategyDetail)
async def get_strategy(
    strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> schemas.StrategyDetail:
    """The strategy with its tree of focus areas, tracks and sub-tracks."""
    async with uow:
        return await strategies_.strategy_detail(uow.session, strategy_id)


@strategies.post(
    "/{strategy_id}/nodes", status_code=status.HTTP_201_CREATED, response_model=schemas.NodePublic
)
async def add_node(
    strategy_id: str, body: schemas.NodeCreate, uow: UnitOfWorkDep, _: Planner
) -> object:
    """Add a focus area (no `parent_id`), a track (under a focus area) or a sub-track."""
    return await strategies_.add_node(uow, strategy_id, body)


ActionPlanIfMatch = Annotated[
    str | None,
    Header(description='The latest version you saw, e.g. "2" ("0" for the first); else 412.'),
]


@strategies.post(
    "/{strategy_id}/action-plan/versions",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActionPlanVersionPublic,
)
async def revise_action_plan(
    strategy_id: str,
    body: schemas.ActionPlanRevise,
    uow: UnitOfWorkDep,
    by: Planner,
    response: Response,
    if_match: ActionPlanIfMatch = None,
) -> object:
    """Revise the action plan: the whole list of initiatives for a year becomes the next
    version; earlier versions are kept unchanged."""
    revision = await strategies_.revise_action_plan(uow, strategy_id, body, by, _if_match(if_match))
    response.headers["Location"] = (
        f"/v1/strategies/{strategy_id}/action-plan/versions/{revision.version}"
    )
    response.headers["ETag"] = f'"{revision.version}"'
    return revision


@strategies.get("/{strategy_id}/action-plan", response_model=schemas.ActionPlanVersionPublic)
async def current_action_plan(
    strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal, response: Response
) -> object:
    """The latest version of the action plan."""
    async with uow:
        revision = await strategies_.action_plan_version(uow.session, strategy_id)
    response.headers["ETag"] = f'"{revision.version}"'
    return revision


@strategies.get(
    "/{strategy_id}/action-plan/versions", response_model=list[schemas.ActionPlanVersionPublic]
)
async def action_plan_versions(strategy_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> object:
    """Every revision of the action plan, oldest first."""
    async with uow:
        return await strategies_.action_plan_versions(uow.session, strategy_id)


@strategies.get(
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
        return await strategies_.action_plan_version(uow.session, strategy_id, version)


@strategies.get("/{strategy_id}/action-plan/diff", response_model=schemas.ActionPlanDiff)
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
        return await strategies_.action_plan_diff(
            uow.session, strategy_id, from_version, to_version
        )


partners = APIRouter(prefix="/v1/partners", tags=["partners"])


@partners.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PartnerPublic)
async def create_partner(
    body: schemas.PartnerCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> object:
    """A co-organiser (KL, a union, a university) that activities of any plan can name."""
    partner = await commands.create_partner(uow, body)
    response.headers["Location"] = f"/v1/partners/{partner.id}"
    return partner


@partners.get("", response_model=Page[schemas.PartnerPublic])
async def list_partners(
    uow: UnitOfWorkDep, _: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
) -> Page[schemas.PartnerPublic]:
    query = select(Partner).order_by(Partner.name, Partner.id)
    async with uow:
        return await page_of(uow.session, query, schemas.PartnerPublic, limit=limit, offset=offset)


@partners.get("/{partner_id}", response_model=schemas.PartnerPublic)
async def get_partner(partner_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> object:
    async with uow:
        return await commands.get_one(uow.session, Partner, partner_id, "partner")
