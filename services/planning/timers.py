"""Durable timers: an activity of an approved plan falls due when its time comes — once, or at
every occurrence of its recurrence rule.

The due time lives in the database (the activity's `next_due_at`), so it survives restarts.
Due activities are claimed under row locks (SKIP LOCKED on PostgreSQL, the write lock on
SQLite); in the same transaction that puts `activity.due.v1` in the outbox, `next_due_at`
moves on to the next occurrence (or to null): each occurrence falls due once, however many
replicas run. The first activity to fall due makes an approved plan active.
Time comes from `runtime.clock`, which tests replace to move time.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from services.planning import domain
from services.planning.plans.model import Edit, Plan
from services.planning.plans.parts import Activity
from services.planning.recurrence import next_occurrence
from services.planning.settings import PlanningSettings
from services.planning.unit_of_work import PlanningUnitOfWork
from shared.contracts.planning import ActivityDue
from shared.metrics import TIMERS_DUE, TIMERS_FIRED
from shared.runtime import Runtime

BATCH = 100
TIMER = "due-timer"  # who changed the plan, in its history


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return (
        select(Activity)
        .join(Plan, Plan.id == Activity.plan_id)
        .where(
            Plan.status.in_(domain.PUBLISHED),
            Activity.cancelled_at.is_(None),
            Activity.next_due_at <= now,
        )
    )


async def fire_due_activities(runtime: Runtime, now: datetime) -> int:
    """Publish `activity.due.v1` for each occurrence whose time has come; how many fired."""
    async with runtime.uow() as uow:
        due = (
            await uow.session.scalars(
                _due(now)
                .order_by(Activity.next_due_at, Activity.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True, of=Activity)
            )
        ).all()
        fired = 0
        for activity in due:
            times = activity.times
            # every occurrence that has come, in order: a plan approved late catches up at once
            while activity.next_due_at is not None and activity.next_due_at <= now:
                uow.publish(
                    ActivityDue(
                        activity_id=activity.id,
                        plan_id=activity.plan_id,
                        title=activity.title,
                        kind=activity.kind,
                        starts_at=activity.next_due_at,
                    ),
                    subject=activity.id,
                )
                activity.due_fired_at = now
                activity.next_due_at = next_occurrence(times, activity.next_due_at)
                fired += 1
        await uow.commit()
        remaining = await uow.session.scalar(select(func.count()).select_from(_due(now).subquery()))
    TIMERS_FIRED.inc(fired)
    TIMERS_DUE.set(remaining or 0)
    return fired


async def activate_plans(runtime: Runtime, now: datetime) -> None:
    """Approved plans of which an activity fell due are being carried out: they become active.

    A transaction of its own that locks plans first (as the API does), so it never deadlocks
    with an API write; derived from what fired, so nothing is lost if it runs late."""
    fired = select(Activity.id).where(
        Activity.plan_id == Plan.id, Activity.due_fired_at.is_not(None)
    )
    async with runtime.uow() as uow:
        assert isinstance(uow, PlanningUnitOfWork)  # planning's runtime makes this kind
        plan_ids = await uow.session.scalars(
            select(Plan.id)
            .where(Plan.status == domain.PlanStatus.APPROVED, fired.exists())
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        for plan_id in plan_ids.all():
            plan = await uow.plans.get_for_change(plan_id, expected=None)
            plan.activate(Edit(TIMER, now))
        await uow.commit()


async def run_due_timer(runtime: Runtime[PlanningSettings]) -> None:
    interval = runtime.settings.due_check_interval_seconds
    while True:
        fired = await fire_due_activities(runtime, runtime.clock())
        await activate_plans(runtime, runtime.clock())
        if fired < BATCH:  # a full batch: more may be waiting
            await asyncio.sleep(interval)
