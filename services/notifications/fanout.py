"""Fan-out: a due send becomes one pending delivery per contact of its audience who can be
reached on its channel (consent to it, and a phone number for SMS) — or, on the webhook
channel, per system subscribed to the audience.

Contacts are read in keyset pages (by id, never all of them in memory) and each page's
deliveries are inserted in bulk, in one transaction with the send's cursor — so a crash
loses no page and writes none twice, and a restarted service goes on from the cursor.
A contact whose address is suppressed gets an e-mail delivery marked suppressed: the send
shows who was left out, and why. (A suppression is of an e-mail address; a text message
goes by the contact's SMS consent.)
"""

from __future__ import annotations

import asyncio

from sqlalchemy import ColumnElement, Select, false, insert, null, select

from services.notifications import sends
from services.notifications.domain import EMAIL_CHANNELS, WEBHOOK, DeliveryStatus, SendStatus
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import (
    AudienceMember,
    Contact,
    Delivery,
    Send,
    Suppression,
    Webhook,
)
from shared.contracts.vocabulary import ChannelKind
from shared.db import new_id
from shared.runtime import Runtime


async def run_fanout(runtime: Runtime[NotificationsSettings]) -> None:
    """Fan out what is due, forever (if the database is away, the runtime starts it again)."""
    while True:
        if not await fan_out_page(runtime):
            await asyncio.sleep(runtime.settings.send_poll_interval_seconds)


async def fan_out_page(runtime: Runtime[NotificationsSettings]) -> bool:
    """Write one page of one due send's deliveries; False if no send was due."""
    page_size = runtime.settings.fanout_page_size
    async with runtime.uow() as uow:
        now = uow.now()
        send = await uow.session.scalar(
            select(Send)
            .where(
                Send.status.in_((SendStatus.SCHEDULED, SendStatus.SENDING)),
                Send.fanned_out.is_(False),
                Send.scheduled_for <= now,
            )
            .order_by(Send.scheduled_for, Send.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # replicas fan out different sends
        )
        if send is None:
            return False
        if send.status == SendStatus.SCHEDULED:
            send.status, send.started_at = SendStatus.SENDING, now
        page = (await uow.session.execute(_recipients(send, page_size))).all()
        # a page of contacts, or on the webhook channel of the audience's subscribed systems
        recipient = "webhook_id" if send.channel == WEBHOOK else "contact_id"
        if page:
            await uow.session.execute(
                insert(Delivery),
                [
                    {
                        "id": new_id(),
                        "kind": "activity" if send.activity_id else "send",
                        "send_id": send.id,
                        "activity_id": send.activity_id,
                        "plan_id": send.plan_id,
                        recipient: recipient_id,
                        "channel": send.channel,
                        "status": DeliveryStatus.SUPPRESSED
                        if suppressed
                        else DeliveryStatus.PENDING,
                        "attempts": 0,
                        "scheduled_for": send.scheduled_for,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for recipient_id, suppressed in page
                ],
            )
            send.fanned_out_to = page[-1][0]
            suppressed = sum(1 for _, reason in page if reason)
            await sends.moved(uow, {send.id: len(page) - suppressed}, DeliveryStatus.PENDING)
            await sends.moved(uow, {send.id: suppressed}, DeliveryStatus.SUPPRESSED)
        if len(page) < page_size:
            send.fanned_out = True
            await uow.session.flush()
            await sends.complete_if_done(uow, send)  # an empty or all-suppressed audience
        await uow.commit()
    return True


def _recipients(send: Send, page_size: int) -> Select[str, str | None]:
    """The next page of the send's recipients after its cursor: each one's id, and why it is
    suppressed (an e-mail address unsubscribed or bounced), if it is."""
    after = send.fanned_out_to or ""
    if send.channel == WEBHOOK:
        return (
            select(Webhook.id, null())
            .where(Webhook.audience_id == send.audience_id, Webhook.id > after)
            .order_by(Webhook.id)
            .limit(page_size)
        )
    return (
        select(Contact.id, Suppression.reason)
        .join(AudienceMember, AudienceMember.contact_id == Contact.id)
        .outerjoin(
            Suppression,
            Suppression.email_hash == Contact.email_hash
            if send.channel in EMAIL_CHANNELS
            else false(),
        )
        .where(
            AudienceMember.audience_id == send.audience_id,
            reachable(send.channel),
            AudienceMember.contact_id > after,
        )
        .order_by(AudienceMember.contact_id)  # the membership's primary key
        .limit(page_size)
    )


def reachable(channel: str) -> ColumnElement[bool]:
    """Which contacts a send on `channel` goes to."""
    if channel in EMAIL_CHANNELS:
        return Contact.email_consent.is_(True)
    if channel == ChannelKind.SMS:
        return Contact.sms_consent.is_(True) & Contact.phone.is_not(None)
    return false()
