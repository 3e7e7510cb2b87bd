"""The metrics service's consumer: it reads every topic, counts events per plan and keeps the
read models (activities, events, registrations, deliveries) its reports and goals are
measured from. A change a counted goal may depend on marks its plan due for measuring.

Every projection is an upsert of the latest state of one thing, keyed by its id: a
redelivered or replayed message leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update

from services.metrics import kpis
from services.metrics.domain import counted_event_types, plan_of
from services.metrics.settings import MetricsSettings
from services.metrics.tables import (
    ActivityFact,
    EventFact,
    PlanFact,
    RegistrationFact,
    SurveyInvitee,
)
from services.metrics.tally import Tally
from shared import topics
from shared.contracts import Envelope, EventData
from shared.contracts import events as ev
from shared.contracts import planning as pl
from shared.contracts.notifications import DeliveryBounced, DeliveryFailed, DeliverySent
from shared.db import upsert
from shared.links import survey_person
from shared.messaging import Handler, Subscription
from shared.uow import UnitOfWork

Projection = Callable[[UnitOfWork, Envelope, Any], Awaitable[None]]


async def count_event(uow: UnitOfWork, envelope: Envelope, data: EventData) -> None:
    """One more of its type for its plan (written with the batch's other counts)."""
    plan_id = plan_of(data)
    if plan_id is not None:
        uow.pending(Tally).counts[plan_id, envelope.type] += 1


async def _save(uow: UnitOfWork, table: type, keys: list[str], **values: Any) -> None:
    """Insert the row, or set these values on the one with the same key."""
    statement = upsert(uow.session, table).values(**values)
    changed = {k: v for k, v in values.items() if k not in keys}
    await uow.session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changed))


async def _set(uow: UnitOfWork, table: type, key: Any, **values: Any) -> None:
    """Change a row that is there (an update for an unknown id changes nothing)."""
    column = table.__table__.primary_key.columns.values()[0]  # type: ignore[attr-defined]
    await uow.session.execute(update(table).where(column == key).values(**values))


async def on_activity(uow: UnitOfWork, _envelope: Envelope, data: pl.ActivityApproved) -> None:
    await _save(
        uow,
        ActivityFact,
        ["activity_id"],
        activity_id=data.activity_id,
        plan_id=data.plan_id,
        title=data.title,
        kind=data.kind,
        channel=data.channel,
        starts_at=data.starts_at,
        cancelled=False,
        audience_id=data.audience.id,
        audience_name=data.audience.name,
    )


async def on_activity_moved(
    uow: UnitOfWork, _envelope: Envelope, data: pl.ActivityRescheduled
) -> None:
    await _set(uow, ActivityFact, data.activity_id, title=data.title, starts_at=data.starts_at)


async def on_activity_cancelled(
    uow: UnitOfWork, _envelope: Envelope, data: pl.ActivityCancelled
) -> None:
    await _set(uow, ActivityFact, data.activity_id, cancelled=True)


async def on_event(
    uow: UnitOfWork, _envelope: Envelope, data: ev.EventCreated | ev.EventPublished
) -> None:
    await _save(
        uow,
        EventFact,
        ["event_id"],
        event_id=data.event_id,
        plan_id=data.plan_id,
        activity_id=data.activity_id,
        title=data.title,
        format=data.format,
        starts_at=data.starts_at,
        capacity=data.capacity,
        status="published" if isinstance(data, ev.EventPublished) else "created",
    )


async def on_event_moved(uow: UnitOfWork, _envelope: Envelope, data: ev.EventRescheduled) -> None:
    await _set(uow, EventFact, data.event_id, starts_at=data.starts_at)


async def on_event_cancelled(uow: UnitOfWork, _envelope: Envelope, data: ev.EventCancelled) -> None:
    await _set(uow, EventFact, data.event_id, status="cancelled")


async def on_event_completed(uow: UnitOfWork, _envelope: Envelope, data: ev.EventCompleted) -> None:
    await _set(uow, EventFact, data.event_id, status="completed")


def registration(status: str) -> Projection:
    async def project(uow: UnitOfWork, _envelope: Envelope, data: ev.RegistrationEvent) -> None:
        await _save(
            uow,
            RegistrationFact,
            ["registration_id"],
            registration_id=data.registration_id,
            event_id=data.event_id,
            plan_id=data.plan_id,
            status=status,
        )

    return project


async def on_checked_in(uow: UnitOfWork, _envelope: Envelope, data: ev.AttendeeCheckedIn) -> None:
    await _save(
        uow,
        RegistrationFact,
        ["registration_id"],
        registration_id=data.registration_id,
        event_id=data.event_id,
        plan_id=data.plan_id,
        status="confirmed",
        checked_in_at=data.checked_in_at,
    )


def on_survey_requested(key: str) -> Projection:
    async def project(uow: UnitOfWork, _envelope: Envelope, data: ev.SurveyRequested) -> None:
        who = survey_person(key, data.event_id, data.registration_id)
        await uow.session.execute(
            upsert(uow.session, SurveyInvitee)
            .values(target=data.event_id, person_hash=who)
            .on_conflict_do_nothing()
        )

    return project


def delivery(status: str) -> Projection:
    async def project(
        uow: UnitOfWork, envelope: Envelope, data: DeliverySent | DeliveryFailed | DeliveryBounced
    ) -> None:
        uow.pending(Tally).delivery(
            {
                "delivery_id": data.delivery_id,
                "plan_id": data.plan_id,
                "activity_id": data.activity_id,
                "contact_id": data.contact_id,
                "channel": data.channel,
                "status": status,
                # when it was sent, or bounced (a replay: the same); a failure, when reported
                "at": getattr(data, "sent_at", None)
                or getattr(data, "bounced_at", None)
                or envelope.time,
            }
        )

    return project


PROJECTIONS: dict[type[EventData], Projection] = {
    pl.ActivityApproved: on_activity,
    pl.ActivityRescheduled: on_activity_moved,
    pl.ActivityCancelled: on_activity_cancelled,
    ev.EventCreated: on_event,
    ev.EventPublished: on_event,
    ev.EventRescheduled: on_event_moved,
    ev.EventCancelled: on_event_cancelled,
    ev.EventCompleted: on_event_completed,
    ev.RegistrationConfirmed: registration("confirmed"),
    ev.RegistrationPromoted: registration("confirmed"),
    ev.RegistrationWaitlisted: registration("waitlisted"),
    ev.RegistrationOffered: registration("offered"),
    ev.RegistrationOfferExpired: registration("expired"),
    ev.RegistrationCancelled: registration("cancelled"),
    ev.AttendeeCheckedIn: on_checked_in,
    DeliverySent: delivery("sent"),
    DeliveryFailed: delivery("failed"),
    DeliveryBounced: delivery("bounced"),
}


def projecting(projections: dict[type[EventData], Projection]) -> Handler:
    async def project(uow: UnitOfWork, envelope: Envelope, data: EventData) -> None:
        """Count the event for its plan, keep what it says, and mark the plan due for
        measuring."""
        await count_event(uow, envelope, data)
        projection = projections.get(type(data))
        if projection is not None:
            await projection(uow, envelope, data)
        plan_id = plan_of(data)
        if plan_id is not None:
            kpis.mark_due(uow, plan_id)

    return project


async def keep_goals(uow: UnitOfWork, envelope: Envelope, data: pl.PlanApproved | pl.PlanRevised):
    """A plan approved or revised: count it, and its goals replace the ones it had."""
    await count_event(uow, envelope, data)
    if isinstance(data, pl.PlanApproved):
        await _save(uow, PlanFact, ["plan_id"], plan_id=data.plan_id, title=data.title)
    await kpis.replace_goals(uow, data.plan_id, data.goals)


def subscription(settings: MetricsSettings) -> Subscription:
    projections = PROJECTIONS | {ev.SurveyRequested: on_survey_requested(settings.link_key)}
    handlers: dict[type[EventData], Handler] = dict.fromkeys(
        [*counted_event_types(), *projections], projecting(projections)
    )
    handlers |= {pl.PlanApproved: keep_goals, pl.PlanRevised: keep_goals}
    # everything but its own events
    others = tuple(topic for topic in topics.ALL if topic not in (topics.KPIS, topics.SURVEYS))
    return Subscription(group_id=settings.consumer_group, topics=others, handlers=handlers)
