"""Fan-out: a due send becomes one pending delivery per recipient — each contact of its
audience or segment the channel can reach on the send's lawful basis (see lists.py), or, on
the webhook channel, each system subscribed to its audience.

Recipients are read in keyset pages (by id, never all of them in memory) and each page's
deliveries are inserted in bulk, in one transaction with the send's cursor — so a crash
loses no page and writes none twice, and a restarted service goes on from the cursor.
A contact whose address is suppressed (unsubscribed, bounced, complained) gets a delivery
marked suppressed: the send shows who was left out, and why (which suppression holds for
which channel and basis: lists.suppressing).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    case,
    false,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from services.notifications import lists, segments, sends
from services.notifications.domain import (
    WEBHOOK,
    DeliveryStatus,
    LawfulBasis,
    SendStatus,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import (
    AudienceMember,
    Contact,
    Delivery,
    Segment,
    Send,
    Suppression,
    Webhook,
)
from shared.db import UtcDateTime, on_postgresql
from shared.ids import new_id
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
        target = await target_of(uow.session, send)
        send.lawful_basis = target.basis  # the same for every page
        if send.status == SendStatus.SCHEDULED:
            send.status, send.started_at = SendStatus.SENDING, now
            send.recipients = await _count(uow.session, target)
        after = send.fanned_out_to or ""
        written = (
            await uow.session.execute(deliveries_for(uow.session, target, after, page_size, now))
        ).all()
        if written:
            send.fanned_out_to = max(str(recipient_id) for recipient_id, _ in written)
            suppressed = sum(1 for _, status in written if status == DeliveryStatus.SUPPRESSED)
            await sends.moved(uow, {send.id: len(written) - suppressed}, DeliveryStatus.PENDING)
            await sends.moved(uow, {send.id: suppressed}, DeliveryStatus.SUPPRESSED)
        if len(written) < page_size:
            send.fanned_out = True
            await uow.session.flush()
            await sends.complete_if_done(uow, send)  # an empty or all-suppressed audience
        await uow.commit()
    return True


def deliveries_for(
    session: AsyncSession, target: Target, after: str, page_size: int, now: datetime
) -> ReturningInsert[str | None, str]:
    """The next page of the send's deliveries, written by the database from its recipients
    (`INSERT … SELECT`: no row passes through Python), each recipient's id and status
    returned. The ids are those of rows made together: one time-ordered prefix for the page
    (a new id's first 28 characters: its time, count and 30 random bits), then the row's
    place in the page in 8 hex digits."""
    send = target.send
    page = recipients(target, after, page_size).subquery()
    recipient_id, reason = page.c
    place = func.row_number().over(order_by=recipient_id)
    if on_postgresql(session):
        hex_place = func.lpad(func.to_hex(place), 8, "0")
    else:
        hex_place = func.printf("%08x", place)
    recipient = Delivery.webhook_id if send.channel == WEBHOOK else Delivery.contact_id
    columns = {
        Delivery.id: literal(new_id()[:28], String) + hex_place,
        Delivery.kind: literal("activity" if send.activity_id else "send", String),
        Delivery.send_id: literal(send.id, String),
        Delivery.activity_id: literal(send.activity_id, String),
        Delivery.plan_id: literal(send.plan_id, String),
        recipient: recipient_id,
        Delivery.channel: literal(send.channel, String),
        Delivery.status: case(
            (reason.is_(None), DeliveryStatus.PENDING), else_=DeliveryStatus.SUPPRESSED
        ),
        Delivery.attempts: literal(0, Integer),
        Delivery.scheduled_for: literal(send.scheduled_for, UtcDateTime),
        Delivery.next_attempt_at: literal(now, UtcDateTime),
        Delivery.created_at: literal(now, UtcDateTime),
    }
    return (
        insert(Delivery)
        .from_select(list(columns), select(*columns.values()).select_from(page))
        .returning(recipient, Delivery.status)
    )


@dataclass(frozen=True)
class Target:
    """Whom a send goes to: its audience or segment, on which lawful basis."""

    send: Send
    segment: Segment | None
    basis: LawfulBasis


async def target_of(session: AsyncSession, send: Send) -> Target:
    """A send's target; its basis is the one it started on, else its audience's now (a
    segment's: that of its audience)."""
    segment = await session.get(Segment, send.segment_id) if send.segment_id else None
    if send.lawful_basis:
        return Target(send, segment, LawfulBasis(send.lawful_basis))
    audience_id = segment.audience_id if segment else send.audience_id
    return Target(send, segment, await lists.basis_of(session, audience_id))


def recipients(target: Target, after: str, page_size: int | None) -> Select[str, str | None]:
    """The send's recipients after the id `after`, a page of them (all: `page_size` None):
    each one's id, and why it is suppressed, if it is."""
    send = target.send
    if send.channel == WEBHOOK:
        return (
            select(Webhook.id, null())
            .where(Webhook.audience_id == send.audience_id, Webhook.id > after)
            .order_by(Webhook.id)
            .limit(page_size)
        )
    query, key = chosen(target, Contact.id, Suppression.reason)
    # the suppressions joined last, as the contacts' page is found
    query = query.outerjoin(Suppression, lists.suppressing(send.channel, target.basis))
    return query.where(key > after).order_by(key).limit(page_size)


def chosen(target: Target, *columns: Any) -> tuple[Select[*tuple[Any, ...]], Any]:
    """`columns` of the contacts a send reaches (by its audience or segment, its channel and
    basis), and the key they are paged by."""
    send = target.send
    query = select(*columns).select_from(Contact)
    reached = lists.reachable(send.channel, target.basis)
    if send.segment_id is None:
        member = AudienceMember.contact_id  # the membership's primary key
        query = query.join(AudienceMember, member == Contact.id)
        return query.where(AudienceMember.audience_id == send.audience_id, reached), member
    if target.segment is None:  # deleted: one a send waits for cannot be
        return query.where(false()), Contact.id
    return query.where(segments.members(target.segment), reached), Contact.id


async def reach(session: AsyncSession, audience_id: str, channel: str, basis: LawfulBasis) -> int:
    """How many of an audience's contacts a send on `channel` would reach now, on `basis`,
    less the suppressed (the ones it would write as suppressed)."""
    target = Target(Send(audience_id=audience_id, channel=channel), None, basis)
    query, _ = chosen(target, func.count())
    query = query.outerjoin(Suppression, lists.suppressing(channel, basis))
    return await session.scalar(query.where(Suppression.reason.is_(None))) or 0


async def count(session: AsyncSession, send: Send) -> int:
    """How many the send goes to, as things stand now."""
    return await _count(session, await target_of(session, send))


async def _count(session: AsyncSession, target: Target) -> int:
    send = target.send
    if send.channel == WEBHOOK:
        query = select(func.count()).where(Webhook.audience_id == send.audience_id)
    else:
        query, _ = chosen(target, func.count())
    return await session.scalar(query) or 0
