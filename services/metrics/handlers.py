"""The metrics service's consumer: it reads every topic and counts events per plan; it keeps
each approved plan's goals, and measures the goals it can count (kpi.measured.v1)."""

from __future__ import annotations

from sqlalchemy import insert, update

from services.metrics import kpis
from services.metrics.domain import COUNTED_METRICS, counted_event_types, plan_of
from services.metrics.tables import PlanCount
from shared import topics
from shared.contracts import Envelope, EventData, registry
from shared.contracts.planning import PlanApproved, PlanRevised
from shared.messaging import Handler, Subscription
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


async def count_and_measure(uow: UnitOfWork, envelope: Envelope, data: EventData) -> None:
    """An event a KPI is counted from: count it, then publish the plan's new count."""
    await kpis.lock_plan(uow, data.plan_id)  # type: ignore[attr-defined]
    await count_event(uow, envelope, data)
    await kpis.measure_counted(uow, data.plan_id, envelope.type)  # type: ignore[attr-defined]


async def count_and_keep_goals(
    uow: UnitOfWork, envelope: Envelope, data: PlanApproved | PlanRevised
) -> None:
    """A plan approved or revised: count it, and its goals replace the ones it had."""
    await kpis.lock_plan(uow, data.plan_id)
    await count_event(uow, envelope, data)
    await kpis.replace_goals(uow, data.plan_id, data.goals)


def subscription(group_id: str) -> Subscription:
    handlers: dict[type[EventData], Handler] = dict.fromkeys(counted_event_types(), count_event)
    handlers |= {registry.model(t): count_and_measure for t in COUNTED_METRICS.values()}
    handlers |= {PlanApproved: count_and_keep_goals, PlanRevised: count_and_keep_goals}
    # everything but its own kpi.measured.v1
    others = tuple(topic for topic in topics.ALL if topic != topics.KPIS)
    return Subscription(group_id=group_id, topics=others, handlers=handlers)
