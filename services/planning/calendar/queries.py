"""The calendar across plans: activities by time, every occurrence of a series."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning.calendar import schemas
from services.planning.plans.model import Plan
from services.planning.plans.parts import Activity, Channel
from services.planning.tables import Audience, StrategyNode


async def _under(session: AsyncSession, node_id: str) -> list[str]:
    """The node and every node below it in its strategy's tree."""
    found, frontier = [node_id], [node_id]
    while frontier:
        frontier = list(
            await session.scalars(
                select(StrategyNode.id).where(StrategyNode.parent_id.in_(frontier))
            )
        )
        found += frontier
    return found


async def calendar(
    session: AsyncSession,
    *,
    starts_from: datetime | None,
    starts_before: datetime | None,
    plan_id: str | None,
    audience_id: str | None,
    channel: str | None,
    track_id: str | None,
    limit: int,
) -> list[schemas.CalendarEntry]:
    """Activities across plans, by time (each occurrence of a recurring one), filtered by
    period, plan, audience, channel and track (with its sub-tracks)."""
    query: Select = (
        select(Activity, Plan, Audience.name, Channel.kind)
        .join(Plan, Plan.id == Activity.plan_id)
        .outerjoin(Audience, Audience.id == Activity.audience_id)
        .outerjoin(Channel, Channel.id == Activity.channel_id)
        .where(
            Activity.cancelled_at.is_(None),
            Activity.taking_place_between(starts_from, starts_before),
        )
        .order_by(Activity.starts_at, Activity.id)
    )
    if plan_id is not None:
        query = query.where(Activity.plan_id == plan_id)
    if audience_id is not None:
        query = query.where(Activity.audience_id == audience_id)
    if channel is not None:
        query = query.where(Channel.kind == channel)
    if track_id is not None:
        query = query.where(Plan.track_id.in_(await _under(session, track_id)))
    # single activities are limited in SQL; a recurring one's occurrences only once expanded
    rows = [
        *(await session.execute(query.where(Activity.recurrence.is_(None)).limit(limit))).all(),
        *(await session.execute(query.where(Activity.recurrence.is_not(None)))).all(),
    ]
    entries = [
        schemas.CalendarEntry(
            activity_id=a.id,
            title=a.title,
            kind=a.kind,
            starts_at=at,
            recurring=a.recurrence is not None,
            plan_id=p.id,
            plan_title=p.title,
            plan_status=p.status,
            audience=audience,
            channel=channel_kind,
        )
        for a, p, audience, channel_kind in rows
        for at in a.times_between(starts_from, starts_before)
    ]
    return sorted(entries, key=lambda e: (e.starts_at, e.activity_id))[:limit]
