"""Planning's consumers: what other services did with its activities, shown on the plan."""

from __future__ import annotations

from services.planning.tables import ActivityOutcome
from shared import topics
from shared.contracts import Envelope
from shared.contracts.events import EventCreated
from shared.contracts.notifications import DeliveryFailed, DeliverySent
from shared.messaging import Subscription
from shared.uow import UnitOfWork


async def _outcome(uow: UnitOfWork, activity_id: str, plan_id: str) -> ActivityOutcome:
    outcome = await uow.session.get(ActivityOutcome, activity_id)
    if outcome is None:
        outcome = ActivityOutcome(
            activity_id=activity_id, plan_id=plan_id, deliveries_sent=0, deliveries_failed=0
        )
        uow.session.add(outcome)
    return outcome


async def on_event_created(uow: UnitOfWork, _envelope: Envelope, data: EventCreated) -> None:
    outcome = await _outcome(uow, data.activity_id, data.plan_id)
    outcome.event_id = data.event_id


async def on_delivery_sent(uow: UnitOfWork, _envelope: Envelope, data: DeliverySent) -> None:
    outcome = await _outcome(uow, data.activity_id, data.plan_id)
    outcome.deliveries_sent += 1


async def on_delivery_failed(uow: UnitOfWork, _envelope: Envelope, data: DeliveryFailed) -> None:
    outcome = await _outcome(uow, data.activity_id, data.plan_id)
    outcome.deliveries_failed += 1


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=(topics.EVENTS, topics.DELIVERIES),
        handlers={
            EventCreated: on_event_created,
            DeliverySent: on_delivery_sent,
            DeliveryFailed: on_delivery_failed,
        },
    )
