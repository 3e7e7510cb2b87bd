"""The metrics service's consumer: it reads every topic and counts events per plan."""

from __future__ import annotations

import asyncio

from sqlalchemy import insert, select, update

from services.metrics.domain import counted_event_types, plan_of
from services.metrics.tables import PlanCount
from shared import topics
from shared.contracts import Envelope, EventData
from shared.messaging import Subscription
from shared.metrics import PLAN_EVENTS
from shared.runtime import Runtime
from shared.uow import UnitOfWork


async def count_event(uow: UnitOfWork, envelope: Envelope, data: EventData) -> None:
    plan_id = plan_of(data)
    if plan_id is None:
        return
    # incremented in SQL: concurrent replicas never lose a count; a racing first insert fails
    # on the key, and the consumer's retry then updates
    updated = await uow.session.execute(
        update(PlanCount)
        .where(PlanCount.plan_id == plan_id, PlanCount.event_type == envelope.type)
        .values(count=PlanCount.count + 1)
    )
    if updated.rowcount == 0:
        await uow.session.execute(
            insert(PlanCount).values(plan_id=plan_id, event_type=envelope.type, count=1)
        )


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=topics.ALL,
        handlers=dict.fromkeys(counted_event_types(), count_event),
    )


async def refresh_plan_gauges(runtime: Runtime) -> None:
    """Mirror the committed counters into the Prometheus gauge, every few seconds."""
    while True:
        async with runtime.sessions() as session:
            for row in await session.scalars(select(PlanCount)):
                PLAN_EVENTS.labels(row.plan_id, row.event_type).set(row.count)
        await asyncio.sleep(runtime.settings.gauge_refresh_seconds)  # type: ignore[attr-defined]
