"""The notifications service's consumers: an approved e-mail activity becomes deliveries,
which move or are cancelled with it; what happens to a registration becomes a message to
its attendee (see attendee_mail)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from services.notifications import attendee_mail
from services.notifications.domain import DeliveryStatus, send_times, sends_email
from services.notifications.tables import AudienceMember, Contact, Delivery
from shared import topics
from shared.contracts import Envelope
from shared.contracts.planning import ActivityApproved, ActivityCancelled, ActivityRescheduled
from shared.db import new_id
from shared.messaging import Subscription
from shared.uow import UnitOfWork


def _pending(
    activity_id: str,
    plan_id: str,
    contact_id: str,
    channel: str,
    subject: str,
    body: str,
    at: datetime,
    now: datetime,
) -> Delivery:
    """An e-mail to send at `at` (at once if that is past), not tried yet."""
    return Delivery(
        id=new_id(),
        activity_id=activity_id,
        plan_id=plan_id,
        contact_id=contact_id,
        channel=channel,
        subject=subject,
        body=body,
        status=DeliveryStatus.PENDING,
        attempts=0,
        scheduled_for=at,
        next_attempt_at=max(now, at),
        created_at=now,
    )


async def on_activity_approved(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityApproved
) -> None:
    """One pending delivery per consenting contact of the audience and time to send (each
    occurrence of a recurring activity); the sender does the rest."""
    if not sends_email(data):
        return
    now = uow.now()
    rows = await uow.session.execute(
        select(Delivery.contact_id, Delivery.scheduled_for).where(
            Delivery.activity_id == data.activity_id
        )
    )
    already = {(contact_id, at) for contact_id, at in rows}
    contacts = await uow.session.scalars(
        select(Contact)
        .join(AudienceMember, AudienceMember.contact_id == Contact.id)
        .where(AudienceMember.audience_id == data.audience.id, Contact.email_consent.is_(True))
    )
    times = send_times(data.occurrences or [data.starts_at], now)
    for contact in contacts:
        for at in times:
            if (contact.id, at) in already:
                continue
            uow.session.add(
                _pending(
                    data.activity_id,
                    data.plan_id,
                    contact.id,
                    data.channel,
                    data.message.subject,
                    data.message.body,
                    at,
                    now,
                )
            )


async def on_activity_rescheduled(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityRescheduled
) -> None:
    """The e-mails not yet due are planned again at the activity's new time(s) — a series
    moved in Danish time is not a fixed shift. What went out stays as it was."""
    now = uow.now()
    deliveries = list(
        await uow.session.scalars(select(Delivery).where(Delivery.activity_id == data.activity_id))
    )
    waiting = [  # not yet due, so no sender holds them
        d
        for d in deliveries
        if d.status == DeliveryStatus.PENDING and d.attempts == 0 and d.scheduled_for > now
    ]
    if not waiting:
        return
    had_one = {d.contact_id for d in deliveries if d not in waiting}
    template = waiting[0]
    for delivery in waiting:
        await uow.session.delete(delivery)
    await uow.session.flush()  # their times may be taken by the new ones
    times = data.occurrences or [data.starts_at]
    for contact_id in sorted({d.contact_id for d in waiting}):
        for at in send_times(times, now, catch_up=contact_id not in had_one):
            uow.session.add(
                _pending(
                    template.activity_id,
                    template.plan_id,
                    contact_id,
                    template.channel,
                    template.subject,
                    template.body,
                    at,
                    now,
                )
            )


async def on_activity_cancelled(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityCancelled
) -> None:
    """E-mails of a cancelled activity that have not gone out are not sent. (One a sender is
    handing to the mail server at this moment may still go; it stays marked cancelled.)"""
    await uow.session.execute(
        update(Delivery)
        .where(Delivery.activity_id == data.activity_id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED)
    )


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=(topics.ACTIVITIES, topics.REGISTRATIONS),
        handlers={
            ActivityApproved: on_activity_approved,
            ActivityRescheduled: on_activity_rescheduled,
            ActivityCancelled: on_activity_cancelled,
            **attendee_mail.HANDLERS,
        },
    )
