"""The events service's consumers: approved event activities become events, and move or
are cancelled with them."""

from __future__ import annotations

from sqlalchemy import select

from services.events import lifecycle, registrations
from services.events.domain import EventStatus, becomes_event
from services.events.policy import Policy
from services.events.tables import Event
from shared import topics
from shared.contracts import Envelope
from shared.contracts.events import EventCreated
from shared.contracts.notifications import ContactErased
from shared.contracts.planning import ActivityApproved, ActivityCancelled, ActivityRescheduled
from shared.ids import new_id
from shared.messaging import Subscription
from shared.uow import UnitOfWork

FINISHED = (EventStatus.CANCELLED, EventStatus.COMPLETED)


async def _event_of(uow: UnitOfWork, activity_id: str, *, lock: bool = False) -> Event | None:
    query = select(Event).where(Event.activity_id == activity_id)
    return await uow.session.scalar(query.with_for_update() if lock else query)


async def on_activity_approved(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityApproved
) -> None:
    if not becomes_event(data):
        return
    if await _event_of(uow, data.activity_id) is not None:
        return  # the same activity approved again (a re-sent event with a new id)
    assert data.event is not None
    event = Event(
        id=new_id(),
        activity_id=data.activity_id,
        plan_id=data.plan_id,
        title=data.title,
        format=data.event.format,
        starts_at=data.starts_at,
        capacity=data.event.capacity,
        venue=data.event.venue,
        partners=data.partners,
        status=EventStatus.DRAFT,
        created_at=uow.now(),
    )
    uow.session.add(event)
    uow.publish(
        EventCreated(
            event_id=event.id,
            activity_id=event.activity_id,
            plan_id=event.plan_id,
            title=event.title,
            format=data.event.format,
            starts_at=event.starts_at,
            capacity=event.capacity,
        ),
        subject=event.id,
    )


def subscription(group_id: str, policy: Policy) -> Subscription:
    """Events follow their activities: moved or cancelled in planning, everyone registered
    or waiting is told, as when an organiser does it here."""

    async def on_activity_rescheduled(
        uow: UnitOfWork, _envelope: Envelope, data: ActivityRescheduled
    ) -> None:
        event = await _event_of(uow, data.activity_id, lock=True)
        if event is None or event.status in FINISHED:
            return  # not an event activity, or nothing left to move
        previous, event.starts_at = event.starts_at, data.starts_at
        await lifecycle.reschedule(uow, event, previous, data.reason, policy)

    async def on_activity_cancelled(
        uow: UnitOfWork, _envelope: Envelope, data: ActivityCancelled
    ) -> None:
        event = await _event_of(uow, data.activity_id, lock=True)
        if event is None or event.status in FINISHED:
            return
        await lifecycle.cancel(uow, event, data.reason, policy)

    async def on_contact_erased(uow: UnitOfWork, _envelope: Envelope, data: ContactErased) -> None:
        """The person was erased in the notifications service: their registrations and
        invitations here are erased too."""
        for email in await registrations.addresses_with_hash(uow.session, data.email_hash):
            await registrations.erase_in(uow, email, policy)

    return Subscription(
        group_id=group_id,
        topics=(topics.ACTIVITIES, topics.CONTACTS),
        handlers={
            ActivityApproved: on_activity_approved,
            ActivityRescheduled: on_activity_rescheduled,
            ActivityCancelled: on_activity_cancelled,
            ContactErased: on_contact_erased,
        },
    )
