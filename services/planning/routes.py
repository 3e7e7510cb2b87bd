"""Planning's HTTP API: translate HTTP to commands and back, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from icalendar import Calendar, Event
from pydantic import AwareDatetime
from sqlalchemy import select

from services.planning import commands, queries, schemas
from services.planning import stakeholders as stakeholders_
from services.planning.domain import GatekeeperRole, PlanStatus
from services.planning.tables import ActivityOutcome, Audience, Plan, Stakeholder
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.contracts.vocabulary import ChannelKind
from shared.errors import PreconditionFailed
from shared.http import RuntimeDep, UnitOfWorkDep
from shared.pagination import Limit, Offset, Page, fetch_page

router = APIRouter(prefix="/v1/plans", tags=["plans"])

Planner = Annotated[Principal, require_roles(Role.PLANNER)]


def _etag(plan: Plan) -> str:
    return f'"{plan.version}"'


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    if if_match.strip().startswith("W/"):  # RFC 9110: If-Match compares strongly
        raise PreconditionFailed("If-Match needs the strong ETag the plan was served with")
    try:
        return int(if_match.strip().strip('"'))
    except ValueError:
        raise PreconditionFailed(f"If-Match {if_match!r} is not an ETag of this API") from None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.PlanSummary)
async def create_plan(
    body: schemas.PlanCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> Plan:
    plan = await commands.create_plan(uow, body)
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
    plan_id: str, uow: UnitOfWorkDep, runtime: RuntimeDep, _: CurrentPrincipal, response: Response
) -> schemas.PlanDetail:
    """The plan with its parts, what other services did with its activities, and its clashes
    with other plans that reach the same audiences in the same weeks."""
    window = timedelta(days=runtime.settings.overlap_window_days)  # type: ignore[attr-defined]
    async with uow:
        plan = await commands.get_plan(uow.session, plan_id)
        outcomes = {
            o.activity_id: o
            for o in await uow.session.scalars(
                select(ActivityOutcome).where(ActivityOutcome.plan_id == plan_id)
            )
        }
        overlaps = await queries.plan_overlaps(uow.session, plan, window)
    response.headers["ETag"] = _etag(plan)
    detail = schemas.PlanDetail.model_validate({**_attributes(plan), "overlaps": overlaps})
    for activity in detail.activities:
        if (outcome := outcomes.get(activity.id)) is not None:
            activity.event_id = outcome.event_id
            activity.deliveries_sent = outcome.deliveries_sent
            activity.deliveries_failed = outcome.deliveries_failed
    return detail


def _attributes(plan: Plan) -> dict:
    fields = schemas.PlanDetail.model_fields.keys() - {"overlaps"}
    return {name: getattr(plan, name) for name in fields}


IfMatch = Annotated[
    str | None, Header(description="The plan's ETag as you saw it; a stale one gets 412.")
]


@router.post(
    "/{plan_id}/goals", status_code=status.HTTP_201_CREATED, response_model=schemas.GoalPublic
)
async def add_goal(
    plan_id: str, body: schemas.GoalCreate, uow: UnitOfWorkDep, _: Planner, response: Response,
    if_match: IfMatch = None,
) -> object:  # fmt: skip
    goal, plan = await commands.add_goal(uow, plan_id, body, _expected_version(if_match))
    response.headers["ETag"] = _etag(plan)
    return goal


@router.post(
    "/{plan_id}/audiences",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.AudiencePublic,
)
async def add_audience(
    plan_id: str, body: schemas.PlanAudienceAdd, uow: UnitOfWorkDep, _: Planner, response: Response,
    if_match: IfMatch = None,
) -> object:  # fmt: skip
    audience, plan = await commands.add_audience(uow, plan_id, body, _expected_version(if_match))
    response.headers["ETag"] = _etag(plan)
    return audience


@router.post(
    "/{plan_id}/messages", status_code=status.HTTP_201_CREATED, response_model=schemas.MessagePublic
)
async def add_message(
    plan_id: str, body: schemas.MessageCreate, uow: UnitOfWorkDep, _: Planner, response: Response,
    runtime: RuntimeDep, if_match: IfMatch = None,
) -> object:  # fmt: skip
    message, plan = await commands.add_message(
        uow, plan_id, body, _expected_version(if_match),
        lix_threshold=runtime.settings.lix_warning_threshold,  # type: ignore[attr-defined]
    )  # fmt: skip
    response.headers["ETag"] = _etag(plan)
    return message


@router.post(
    "/{plan_id}/channels", status_code=status.HTTP_201_CREATED, response_model=schemas.ChannelPublic
)
async def add_channel(
    plan_id: str, body: schemas.ChannelCreate, uow: UnitOfWorkDep, _: Planner, response: Response,
    if_match: IfMatch = None,
) -> object:  # fmt: skip
    channel, plan = await commands.add_channel(uow, plan_id, body, _expected_version(if_match))
    response.headers["ETag"] = _etag(plan)
    return channel


@router.post(
    "/{plan_id}/activities",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ActivityPublic,
)
async def add_activity(
    plan_id: str, body: schemas.ActivityCreate, uow: UnitOfWorkDep, _: Planner, response: Response,
    if_match: IfMatch = None,
) -> object:  # fmt: skip
    activity, plan = await commands.add_activity(uow, plan_id, body, _expected_version(if_match))
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post(
    "/{plan_id}/activities/{activity_id}/reschedule", response_model=schemas.ActivityPublic
)
async def reschedule_activity(
    plan_id: str, activity_id: str, body: schemas.Reschedule, uow: UnitOfWorkDep, by: Planner,
    response: Response, if_match: IfMatch = None,
) -> object:  # fmt: skip
    """Move an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.reschedule_activity(
        uow, plan_id, activity_id, body, by, _expected_version(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/activities/{activity_id}/cancel", response_model=schemas.ActivityPublic)
async def cancel_activity(
    plan_id: str, activity_id: str, body: schemas.ActivityChange, uow: UnitOfWorkDep, by: Planner,
    response: Response, if_match: IfMatch = None,
) -> object:  # fmt: skip
    """Cancel an activity. On an approved plan this is a deviation: give `reason` and `agreed_by`."""
    activity, plan = await commands.cancel_activity(
        uow, plan_id, activity_id, body, by, _expected_version(if_match)
    )
    response.headers["ETag"] = _etag(plan)
    return activity


@router.post("/{plan_id}/submit", response_model=schemas.PlanSummary)
async def submit_plan(
    plan_id: str, uow: UnitOfWorkDep, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Send a draft to management for review (draft → in review)."""
    plan = await commands.submit_plan(uow, plan_id, by, _expected_version(if_match))
    response.headers["ETag"] = _etag(plan)
    return plan


@router.post("/{plan_id}/close", response_model=schemas.PlanSummary)
async def close_plan(
    plan_id: str, uow: UnitOfWorkDep, by: Planner, response: Response, if_match: IfMatch = None
) -> Plan:
    """Close an approved or active plan when its work is done."""
    plan = await commands.close_plan(uow, plan_id, by, _expected_version(if_match))
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
    plan = await commands.approve_plan(uow, plan_id, approver, _expected_version(if_match))
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
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[schemas.CalendarEntry]:
    async with uow:
        return await queries.calendar(
            uow.session, starts_from=starts_from, starts_before=starts_before, plan_id=plan_id,
            audience_id=audience_id, channel=channel, limit=limit,
        )  # fmt: skip


Entries = Annotated[list[schemas.CalendarEntry], Depends(_entries)]


@calendar.get("", response_model=list[schemas.CalendarEntry])
async def calendar_json(entries: Entries) -> list[schemas.CalendarEntry]:
    """Activities across plans, by start time; filter by period, plan, audience, channel."""
    return entries


@calendar.get(".ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
async def calendar_ical(entries: Entries) -> Response:
    """The same activities as an iCalendar (RFC 5545) feed for calendar programs."""
    return Response(to_ical(entries), media_type="text/calendar; charset=utf-8")


def to_ical(entries: list[schemas.CalendarEntry]) -> bytes:
    feed = Calendar()
    feed.add("prodid", "-//Budskab//planning calendar//DA")
    feed.add("version", "2.0")
    generated = datetime.now(UTC)
    for entry in entries:
        item = Event()
        item.add("uid", f"{entry.activity_id}@budskab")
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
        rows, total = await fetch_page(uow.session, query, limit=limit, offset=offset)
    items = [schemas.StakeholderPublic.model_validate(r) for r in rows]
    return Page[schemas.StakeholderPublic](items=items, total=total, limit=limit, offset=offset)


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
    async with uow:
        rows, total = await fetch_page(
            uow.session,
            select(Audience).order_by(Audience.name, Audience.id),
            limit=limit,
            offset=offset,
        )
    items = [schemas.AudiencePublic.model_validate(r) for r in rows]
    return Page[schemas.AudiencePublic](items=items, total=total, limit=limit, offset=offset)
