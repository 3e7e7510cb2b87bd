"""Read models across plans: overlaps between plans and the calendar."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import domain, schemas
from services.planning.tables import Activity, Audience, Channel, Plan


async def plan_overlaps(
    session: AsyncSession, plan: Plan, window: timedelta
) -> list[schemas.Overlap]:
    """Other plans' activities (not closed) that reach this plan's audiences in the same weeks."""
    mine = [
        domain.Scheduled(plan.id, plan.title, a.id, a.title, a.audience_id, a.starts_at)
        for a in plan.live_activities
        if a.audience_id is not None
    ]
    if not mine:
        return []
    rows = await session.execute(
        select(Activity, Plan.title)
        .join(Plan, Plan.id == Activity.plan_id)
        .where(
            Activity.plan_id != plan.id,
            Activity.cancelled_at.is_(None),
            Plan.status != domain.PlanStatus.CLOSED,
            Activity.audience_id.in_({m.audience_id for m in mine}),
            Activity.starts_at >= min(m.starts_at for m in mine) - window,
            Activity.starts_at <= max(m.starts_at for m in mine) + window,
        )
    )
    others = [
        domain.Scheduled(a.plan_id, title, a.id, a.title, a.audience_id, a.starts_at)
        for a, title in rows.all()
    ]
    return [
        schemas.Overlap(
            activity_id=m.activity_id,
            audience_id=m.audience_id,
            other_plan_id=o.plan_id,
            other_plan_title=o.plan_title,
            other_activity_id=o.activity_id,
            other_activity_title=o.title,
            other_starts_at=o.starts_at,
            days_apart=round(abs((o.starts_at - m.starts_at).total_seconds()) / 86400, 1),
        )  # fmt: skip
        for m, o in domain.overlaps(mine, others, window)
    ]


async def calendar(
    session: AsyncSession,
    *,
    starts_from: datetime | None,
    starts_before: datetime | None,
    plan_id: str | None,
    audience_id: str | None,
    channel: str | None,
    limit: int,
) -> list[schemas.CalendarEntry]:
    """Activities across plans, by start time, filtered by period, plan, audience and channel."""
    query = (
        select(Activity, Plan, Audience.name, Channel.kind)
        .join(Plan, Plan.id == Activity.plan_id)
        .outerjoin(Audience, Audience.id == Activity.audience_id)
        .outerjoin(Channel, Channel.id == Activity.channel_id)
        .where(Activity.cancelled_at.is_(None))
        .order_by(Activity.starts_at, Activity.id)
        .limit(limit)
    )
    if starts_from is not None:
        query = query.where(Activity.starts_at >= starts_from)
    if starts_before is not None:
        query = query.where(Activity.starts_at < starts_before)
    if plan_id is not None:
        query = query.where(Activity.plan_id == plan_id)
    if audience_id is not None:
        query = query.where(Activity.audience_id == audience_id)
    if channel is not None:
        query = query.where(Channel.kind == channel)
    return [
        schemas.CalendarEntry(
            activity_id=a.id,
            title=a.title,
            kind=a.kind,
            starts_at=a.starts_at,
            plan_id=p.id,
            plan_title=p.title,
            plan_status=p.status,
            audience=audience,
            channel=channel_kind,
        )  # fmt: skip
        for a, p, audience, channel_kind in (await session.execute(query)).all()
    ]
