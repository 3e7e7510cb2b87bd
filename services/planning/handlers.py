"""Planning's consumers: what other services did with its activities, and the measured values
of its goals, shown on the plan."""

from __future__ import annotations

from typing import get_args

from services.planning.outcomes import Report, outcome_of
from services.planning.unit_of_work import PlanningUnitOfWork
from shared import topics
from shared.contracts import Envelope
from shared.contracts.metrics import KpiMeasured
from shared.messaging import Subscription


async def on_outcome(uow: PlanningUnitOfWork, _envelope: Envelope, data: Report) -> None:
    """An event or a message of one of the plan's activities: the plan shows what became of it."""
    change = outcome_of(data)
    if change is not None:
        await uow.outcomes.apply(change)


async def on_kpi_measured(uow: PlanningUnitOfWork, _envelope: Envelope, data: KpiMeasured) -> None:
    """The goal's measured value, shown next to its target (a goal since removed is left be)."""
    goal = await uow.plans.goal(data.plan_id, data.goal_id)
    if goal is not None:
        goal.measure(data.value, data.measured_at, data.source)


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=(topics.EVENTS, topics.DELIVERIES, topics.KPIS),
        handlers={**dict.fromkeys(get_args(Report), on_outcome), KpiMeasured: on_kpi_measured},
    )
