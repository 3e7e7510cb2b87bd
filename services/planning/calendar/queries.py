"""The calendar across plans: activities by time, every occurrence of a series."""

from __future__ import annotations

import heapq
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning.calendar import schemas
from services.planning.plans.model import Plan
from services.planning.plans.parts import Activity, Channel
from services.planning.strategies.model import StrategyNode
from services.planning.tables import Audience


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
    # the first `limit` times of them all, before any entry is made: a year of weekly series
    # across every plan is tens of thousands of times, and the page shows at most 1,000
    firsts = heapq.nsmallest(
        limit,
        (
            (at, activity.id, index)
            for index, (activity, *_) in enumerate(rows)
            for at in activity.times_between(starts_from, starts_before)
        ),
    )
    entries = []
    for at, _, index in firsts:
        activity, plan, audience, channel_kind = rows[index]
        entries.append(
            schemas.CalendarEntry(
                activity_id=activity.id,
                title=activity.title,
                kind=activity.kind,
                starts_at=at,
                recurring=activity.recurrence is not None,
                plan_id=plan.id,
                plan_title=plan.title,
                plan_status=plan.status,
                audience=audience,
                channel=channel_kind,
            )
        )
    return entries
