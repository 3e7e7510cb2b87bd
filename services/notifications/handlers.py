"""The notifications service's consumers: an approved e-mail, SMS or webhook activity becomes
one send per time it is to go out (each issue of a newsletter), which moves or is cancelled
with it; what happens to a registration becomes a message to its attendee (see
attendee_mail)."""

from __future__ import annotations

from sqlalchemy import select

from services.notifications import attendee_mail, sends
from services.notifications.domain import SendStatus, send_times, sends_messages
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Send
from shared import topics
from shared.contracts import Envelope
from shared.contracts.planning import ActivityApproved, ActivityCancelled, ActivityRescheduled
from shared.messaging import Subscription
from shared.uow import UnitOfWork


async def on_activity_approved(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityApproved
) -> None:
    """A send per time to send (each occurrence of a recurring activity) not planned yet; each
    is fanned out to whom the audience reaches on its channel when its time comes."""
    if not sends_messages(data):
        return
    now = uow.now()
    planned = set(
        await uow.session.scalars(
            select(Send.scheduled_for).where(Send.activity_id == data.activity_id)
        )
    )
    for at in send_times(data.occurrences or [data.starts_at], now):
        if at not in planned:
            uow.session.add(
                sends.new_send(
                    activity_id=data.activity_id,
                    plan_id=data.plan_id,
                    audience_id=data.audience.id,
                    channel=data.channel,
                    subject=data.message.subject,
                    body=data.message.body,
                    at=at,
                    now=now,
                )
            )


async def on_activity_rescheduled(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityRescheduled
) -> None:
    """The sends not yet due are planned again at the activity's new time(s) — a series moved
    in Danish time is not a fixed shift. What went out stays as it was."""
    now = uow.now()
    activity_sends = list(
        await uow.session.scalars(
            select(Send).where(Send.activity_id == data.activity_id).with_for_update()
        )
    )
    waiting = [
        s for s in activity_sends if s.status == SendStatus.SCHEDULED and s.scheduled_for > now
    ]
    if not waiting:
        return
    template = waiting[0]
    for send in waiting:
        await uow.session.delete(send)
    await uow.session.flush()  # their times may be taken by the new ones
    started = len(activity_sends) > len(waiting)  # an issue went out: no catch-up
    for at in send_times(data.occurrences or [data.starts_at], now, catch_up=not started):
        uow.session.add(
            sends.new_send(
                activity_id=template.activity_id,
                plan_id=template.plan_id,
                audience_id=template.audience_id or "",
                channel=template.channel,
                subject=template.subject,
                body=template.body,
                at=at,
                now=now,
            )
        )


async def on_activity_cancelled(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityCancelled
) -> None:
    """A cancelled activity's sends that have not gone out are not sent, nor is the rest of
    one that is going out."""
    ids = await uow.session.scalars(select(Send.id).where(Send.activity_id == data.activity_id))
    for send in await sends.locked(uow, list(ids)):
        await sends.cancel(uow, send)


def subscription(settings: NotificationsSettings) -> Subscription:
    return Subscription(
        group_id=settings.consumer_group,
        topics=(topics.ACTIVITIES, topics.REGISTRATIONS, topics.SURVEYS),
        handlers={
            ActivityApproved: on_activity_approved,
            ActivityRescheduled: on_activity_rescheduled,
            ActivityCancelled: on_activity_cancelled,
            **attendee_mail.handlers(settings),
        },
    )
