"""Read models of plans: a plan with what others report of it, its overlaps with other plans, its versions."""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from services.planning import domain
from services.planning.plans import schemas
from services.planning.plans.model import Plan
from services.planning.plans.parts import Activity
from services.planning.plans.repository import load_plan
from services.planning.tables import ActivityOutcome, PlanVersion
from shared.contracts.metrics import attained
from shared.errors import NotFound
from shared.pagination import fetch_page
from shared.time import shifted

T = TypeVar("T")


async def plan_detail(session: AsyncSession, plan_id: str, window: timedelta) -> schemas.PlanDetail:
    """The plan with its parts, what other services did with its activities, its goals'
    measured values, and its clashes with other plans that reach the same audiences."""
    plan = await load_plan(session, plan_id)
    outcomes = {
        o.activity_id: o
        for o in await session.scalars(
            select(ActivityOutcome).where(ActivityOutcome.plan_id == plan_id)
        )
    }
    fields = schemas.PlanDetail.model_fields.keys() - {"overlaps"}
    detail = schemas.PlanDetail.model_validate(
        {
            **{name: getattr(plan, name) for name in fields},
            "overlaps": await plan_overlaps(session, plan, window),
        }
    )
    for goal in detail.goals:
        goal.attained = attained(goal.measured_value, goal.target)
    audiences = {a.id: a for a in plan.audiences}
    channels = {c.id: c.kind for c in plan.channels}
    for activity in detail.activities:
        if activity.audience_id in audiences and activity.channel_id in channels:
            audience = audiences[activity.audience_id]
            activity.channel_warning = domain.channel_warning(
                audience.name, audience.preferred_channels, channels[activity.channel_id]
            )
        if (outcome := outcomes.get(activity.id)) is not None:
            activity.event_id = outcome.event_id
            activity.event_status = outcome.event_status
            activity.event_starts_at = outcome.event_starts_at
            activity.event_confirmed = outcome.event_confirmed
            activity.event_checked_in = outcome.event_checked_in
            activity.deliveries_sent = outcome.deliveries_sent
            activity.deliveries_failed = outcome.deliveries_failed
    return detail


async def plan_overlaps(
    session: AsyncSession, plan: Plan, window: timedelta
) -> list[schemas.Overlap]:
    """Other plans' activities (not closed) that reach this plan's audiences in the same weeks."""
    mine = [
        domain.Scheduled(plan.id, plan.title, a.id, a.title, a.audience_id, at)
        for a in plan.live_activities
        if a.audience_id is not None
        for at in a.times
    ]
    if not mine:
        return []
    earliest = shifted(min(m.starts_at for m in mine), -window)
    until = shifted(max(m.starts_at for m in mine), window + timedelta(microseconds=1))  # inclusive
    rows = await session.execute(
        select(Activity, Plan.title)
        .join(Plan, Plan.id == Activity.plan_id)
        .where(
            Activity.plan_id != plan.id,
            Activity.cancelled_at.is_(None),
            Plan.status != domain.PlanStatus.CLOSED,
            Activity.audience_id.in_({m.audience_id for m in mine}),
            Activity.taking_place_between(earliest, until),
        )
    )
    others = [
        domain.Scheduled(a.plan_id, title, a.id, a.title, a.audience_id, at)
        for a, title in rows.all()
        if a.audience_id is not None  # always: the query asks for these audiences
        for at in a.times_between(earliest, until)
    ]
    return [
        schemas.Overlap(
            activity_id=m.activity_id,
            audience_id=m.audience_id,
            other_plan_id=o.plan_id,
            other_plan_title=o.plan_title,
            other_activity_id=o.activity_id,
            other_activity_title=o.title,
            starts_at=m.starts_at,
            other_starts_at=o.starts_at,
            days_apart=round(abs((o.starts_at - m.starts_at).total_seconds()) / 86400, 1),
            clashes=clashes,
        )
        for m, o, clashes in domain.overlaps(mine, others, window)
    ]


async def plan_versions(session: AsyncSession, plan_id: str) -> Select:
    """The plan's versions, oldest first; the list shows what changed, not the plans."""
    await _exists(session, plan_id)
    return (
        select(PlanVersion)
        .options(defer(PlanVersion.snapshot))
        .where(PlanVersion.plan_id == plan_id)
        .order_by(PlanVersion.version)
    )


async def _exists(session: AsyncSession, plan_id: str) -> None:
    if await session.scalar(select(Plan.id).where(Plan.id == plan_id)) is None:
        raise NotFound(f"no plan with id {plan_id}")


async def plan_version(session: AsyncSession, plan_id: str, version: int) -> PlanVersion:
    await _exists(session, plan_id)
    found = await session.get(PlanVersion, (plan_id, version))
    if found is None:
        raise NotFound(f"the plan has no version {version}")
    return found


async def plan_diff(
    session: AsyncSession, plan_id: str, from_version: int, to_version: int
) -> schemas.PlanVersionDiff:
    before = (await plan_version(session, plan_id, from_version)).snapshot
    after = (await plan_version(session, plan_id, to_version)).snapshot
    return schemas.PlanVersionDiff(
        from_version=from_version, to_version=to_version, **domain.diff_snapshots(before, after)
    )


async def get_one(session: AsyncSession, table: type[T], id_: str, what: str) -> T:
    """One row of the organisation's audiences, partners…, or 404 naming what is missing."""
    found = await session.get(table, id_)
    if found is None:
        raise NotFound(f"no {what} with id {id_}")
    return found


async def list_plans(
    session: AsyncSession, *, status: domain.PlanStatus | None, limit: int, offset: int
) -> tuple[list[Plan], int]:
    query = select(Plan)
    if status is not None:
        query = query.where(Plan.status == status)
    return await fetch_page(
        session, query.order_by(Plan.created_at, Plan.id), limit=limit, offset=offset
    )
