"""Durable timers: an activity of an approved plan falls due when its start time comes.

The due time lives in the database (the activity's `starts_at`, and `due_fired_at` once it
fired), so it survives restarts. Due activities are claimed under row locks (SKIP LOCKED on
PostgreSQL, the write lock on SQLite) and marked fired in the same transaction that puts
`activity.due.v1` in the outbox: each activity falls due once, however many replicas run.
Time comes from `runtime.clock`, which tests replace to move time.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from services.planning import domain
from services.planning.tables import Activity, Plan
from shared.contracts.planning import ActivityDue
from shared.metrics import TIMERS_DUE, TIMERS_FIRED
from shared.runtime import Runtime

BATCH = 100


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return (
        select(Activity)
        .join(Plan, Plan.id == Activity.plan_id)
        .where(
            Plan.status.in_(domain.PUBLISHED),
            Activity.due_fired_at.is_(None),
            Activity.cancelled_at.is_(None),
            Activity.starts_at <= now,
        )
    )


async def fire_due_activities(runtime: Runtime, now: datetime) -> int:
    """Publish `activity.due.v1` for activities whose time has come; how many fired."""
    async with runtime.uow() as uow:
        due = (
            await uow.session.scalars(
                _due(now)
                .order_by(Activity.starts_at, Activity.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True, of=Activity)
            )
        ).all()
        for activity in due:
            activity.due_fired_at = now
            uow.publish(
                ActivityDue(
                    activity_id=activity.id,
                    plan_id=activity.plan_id,
                    title=activity.title,
                    kind=activity.kind,
                    starts_at=activity.starts_at,
                ),
                subject=activity.id,
            )
        await uow.commit()
        remaining = await uow.session.scalar(select(func.count()).select_from(_due(now).subquery()))
    TIMERS_FIRED.inc(len(due))
    TIMERS_DUE.set(remaining or 0)
    return len(due)


async def run_due_timer(runtime: Runtime) -> None:
    interval = runtime.settings.due_check_interval_seconds  # type: ignore[attr-defined]
    while True:
        if await fire_due_activities(runtime, runtime.clock()) < BATCH:
            await asyncio.sleep(interval)
