"""Planning's consumers: what other services did with its activities, and the measured values
of its goals, shown on the plan."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from services.planning.plans.parts import Goal
from services.planning.tables import ActivityOutcome
from shared import topics
from shared.contracts import Envelope
from shared.contracts.events import (
    EventCancelled,
    EventCompleted,
    EventCreated,
    EventPublished,
    EventRescheduled,
)
from shared.contracts.metrics import KpiMeasured
from shared.contracts.notifications import DeliveryFailed, DeliverySent
from shared.messaging import Subscription
from shared.uow import UnitOfWork


async def _record(uow: UnitOfWork, activity_id: str, plan_id: str, **values) -> None:  # type: ignore[no-untyped-def]
    """Set `values` on the activity's outcome row, creating the row first if needed.

    Counters are given as SQL expressions (`column + 1`), so concurrent consumers never lose
    an increment; a racing first insert fails on the key, and the consumer's retry updates.
    """
    this = ActivityOutcome.activity_id == activity_id
    if await uow.session.scalar(select(ActivityOutcome.activity_id).where(this)) is None:
        await uow.session.execute(
            insert(ActivityOutcome).values(
                activity_id=activity_id, plan_id=plan_id, deliveries_sent=0, deliveries_failed=0
            )
        )
    await uow.session.execute(update(ActivityOutcome).where(this).values(**values))


async def on_event_created(uow: UnitOfWork, _envelope: Envelope, data: EventCreated) -> None:
    await _record(
        uow,
        data.activity_id,
        data.plan_id,
        event_id=data.event_id,
        event_status="draft",
        event_starts_at=data.starts_at,
    )


async def on_event_published(uow: UnitOfWork, _envelope: Envelope, data: EventPublished) -> None:
    if data.activity_id and data.plan_id:  # an organiser's own event belongs to no plan
        await _record(uow, data.activity_id, data.plan_id, event_status="published")


async def on_event_rescheduled(
    uow: UnitOfWork, _envelope: Envelope, data: EventRescheduled
) -> None:
    """The organiser moved the event (in the events service): the plan shows where it went."""
    if data.activity_id and data.plan_id:
        await _record(uow, data.activity_id, data.plan_id, event_starts_at=data.starts_at)


async def on_event_cancelled(uow: UnitOfWork, _envelope: Envelope, data: EventCancelled) -> None:
    if data.activity_id and data.plan_id:
        await _record(uow, data.activity_id, data.plan_id, event_status="cancelled")


async def on_event_completed(uow: UnitOfWork, _envelope: Envelope, data: EventCompleted) -> None:
    if data.activity_id and data.plan_id:
        await _record(
            uow,
            data.activity_id,
            data.plan_id,
            event_status="completed",
            event_confirmed=data.confirmed,
            event_checked_in=data.checked_in,
        )


async def on_delivery_sent(uow: UnitOfWork, _envelope: Envelope, data: DeliverySent) -> None:
    await _record(
        uow, data.activity_id, data.plan_id, deliveries_sent=ActivityOutcome.deliveries_sent + 1
    )


async def on_delivery_failed(uow: UnitOfWork, _envelope: Envelope, data: DeliveryFailed) -> None:
    await _record(
        uow, data.activity_id, data.plan_id, deliveries_failed=ActivityOutcome.deliveries_failed + 1
    )


async def on_kpi_measured(uow: UnitOfWork, _envelope: Envelope, data: KpiMeasured) -> None:
    """Show the measured value next to the goal's target; an older measurement that arrives
    late does not replace a newer one."""
    await uow.session.execute(
        update(Goal)
        .where(
            Goal.id == data.goal_id,
            Goal.plan_id == data.plan_id,
            (Goal.measured_at.is_(None)) | (Goal.measured_at <= data.measured_at),
        )
        .values(
            measured_value=data.value, measured_at=data.measured_at, measured_source=data.source
        )
    )


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=(topics.EVENTS, topics.DELIVERIES, topics.KPIS),
        handlers={
            EventCreated: on_event_created,
            EventPublished: on_event_published,
            EventRescheduled: on_event_rescheduled,
            EventCancelled: on_event_cancelled,
            EventCompleted: on_event_completed,
            DeliverySent: on_delivery_sent,
            DeliveryFailed: on_delivery_failed,
            KpiMeasured: on_kpi_measured,
        },
    )
