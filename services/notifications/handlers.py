"""The notifications service's consumers: an approved e-mail activity becomes deliveries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from services.notifications.domain import DeliveryStatus, sends_email
from services.notifications.tables import AudienceMember, Contact, Delivery
from shared import topics
from shared.contracts import Envelope
from shared.contracts.planning import ActivityApproved
from shared.messaging import Subscription
from shared.uow import UnitOfWork


async def on_activity_approved(
    uow: UnitOfWork, _envelope: Envelope, data: ActivityApproved
) -> None:
    """One pending delivery per consenting contact of the audience; the sender does the rest."""
    if not sends_email(data):
        return
    now = datetime.now(UTC)
    already = set(
        await uow.session.scalars(
            select(Delivery.contact_id).where(Delivery.activity_id == data.activity_id)
        )
    )
    contacts = await uow.session.scalars(
        select(Contact)
        .join(AudienceMember, AudienceMember.contact_id == Contact.id)
        .where(AudienceMember.audience_id == data.audience.id, Contact.email_consent.is_(True))
    )
    for contact in contacts:
        if contact.id in already:
            continue
        uow.session.add(
            Delivery(
                id=str(uuid.uuid4()),
                activity_id=data.activity_id,
                plan_id=data.plan_id,
                contact_id=contact.id,
                channel=data.channel,
                subject=data.message.subject,
                body=data.message.body,
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=max(now, data.starts_at),
                created_at=now,
            )
        )


def subscription(group_id: str) -> Subscription:
    return Subscription(
        group_id=group_id,
        topics=(topics.ACTIVITIES,),
        handlers={ActivityApproved: on_activity_approved},
    )
