"""Sends: one message to an audience, and the per-recipient ledger of its deliveries.

A send waits for its time, is fanned out to its audience in pages (fanout.py), is sent by
the sender (sender.py) and completes when nothing of it is pending; `send.completed.v1`
carries its counts. Whatever changes a send's deliveries locks the send row first, so
that exactly one of them sees the last pending delivery go and completes it, and moves the
send's counts with them (`moved`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import InstrumentedAttribute

from services.notifications import templates
from services.notifications.domain import DeliveryStatus, SendStatus
from services.notifications.tables import Delivery, Segment, Send
from shared.contracts.notifications import SendCompleted, SendCounts
from shared.db import changed_rows
from shared.errors import Conflict, NotFound, RuleViolation
from shared.ids import new_id
from shared.uow import UnitOfWork


def new_send(
    *,
    audience_id: str | None,
    channel: str,
    subject: str,
    body: str,
    at: datetime,
    now: datetime,
    template: str = "standard",
    activity_id: str | None = None,
    plan_id: str | None = None,
    segment_id: str | None = None,
) -> Send:
    return Send(
        id=new_id(),
        activity_id=activity_id,
        plan_id=plan_id,
        audience_id=audience_id,
        segment_id=segment_id,
        channel=channel,
        subject=subject,
        body=body,
        template=template,
        status=SendStatus.SCHEDULED,
        scheduled_for=at,
        fanned_out=False,
        created_at=now,
    )


async def create(
    uow: UnitOfWork,
    *,
    audience_id: str | None,
    channel: str,
    subject: str,
    body: str,
    template: str,
    at: datetime | None,
    segment_id: str | None = None,
) -> Send:
    """A send made through the API: to an audience or a segment, now or `at`."""
    if await templates.find(uow.session, template, "da") is None:
        raise RuleViolation(f"there is no template {template!r} in Danish")
    if segment_id is not None:  # locked: it is not deleted under this send
        if await uow.session.get(Segment, segment_id, with_for_update=True) is None:
            raise RuleViolation(f"there is no segment {segment_id!r}")
    now = uow.now()
    send = new_send(
        audience_id=audience_id,
        segment_id=segment_id,
        channel=channel,
        subject=subject,
        body=body,
        template=template,
        at=at or now,
        now=now,
    )
    uow.session.add(send)
    return send


async def locked(uow: UnitOfWork, send_ids: Sequence[str]) -> list[Send]:
    """The sends, their rows locked until the transaction ends (in one order: no deadlock)."""
    if not send_ids:
        return []
    return list(
        await uow.session.scalars(
            select(Send)
            .where(Send.id.in_(sorted(set(send_ids))))
            .order_by(Send.id)
            .with_for_update()
        )
    )


async def get_locked(uow: UnitOfWork, send_id: str) -> Send:
    sends = await locked(uow, [send_id])
    if not sends:
        raise NotFound(f"no send with id {send_id}")
    return sends[0]


COUNTED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.SUPPRESSED,
    DeliveryStatus.BOUNCED,
    DeliveryStatus.CANCELLED,
)


def _count_of(status: str) -> InstrumentedAttribute[int]:
    return getattr(Send, f"count_{status}")


async def moved(
    uow: UnitOfWork, per_send: Mapping[str | None, int], to: str, before: str | None = None
) -> None:
    """Keep the sends' counts with their ledger: `per_send[send_id]` of a send's deliveries
    went from `before` (None: they are new) to `to`, in this transaction. (A person's own
    messages belong to no send: their None is passed over.)"""
    for send_id, n in sorted((k, v) for k, v in per_send.items() if k is not None and v):
        changes = {_count_of(to): _count_of(to) + n}
        if before is not None:
            changes[_count_of(before)] = _count_of(before) - n
        await uow.session.execute(
            update(Send)
            .where(Send.id == send_id)
            .values(changes)
            .execution_options(synchronize_session=False)
        )


async def _recount(uow: UnitOfWork, send: Send) -> dict[str, int]:
    """The send's deliveries counted in its ledger, once, as it completes; its counts are set
    to them (whatever they had drifted to)."""
    rows = await uow.session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.send_id == send.id)
        .group_by(Delivery.status)
    )
    counted = dict(rows.all())
    by_status: dict[str, int] = {status: counted.get(status, 0) for status in COUNTED}
    await uow.session.execute(
        update(Send)
        .where(Send.id == send.id)
        .values({_count_of(status): n for status, n in by_status.items()})
        .execution_options(synchronize_session=False)
    )
    return by_status


async def counts(uow: UnitOfWork, send_id: str) -> dict[str, int]:
    row = (
        await uow.session.execute(
            select(*(_count_of(status) for status in COUNTED)).where(Send.id == send_id)
        )
    ).one()
    return dict(zip(COUNTED, row, strict=True))


async def complete_if_done(uow: UnitOfWork, send: Send) -> bool:
    """Complete a fanned-out send none of whose deliveries is pending (the caller holds its
    lock), and say so on the broker with its counts."""
    if send.status != SendStatus.SENDING or not send.fanned_out:
        return False
    # the ledger decides, not the counts: a replica of an older version (during a rolling
    # deploy) changes deliveries without moving them
    pending = await uow.session.scalar(
        select(Delivery.id)
        .where(Delivery.send_id == send.id, Delivery.status == DeliveryStatus.PENDING)
        .limit(1)
    )
    if pending is not None:
        return False
    now = uow.now()
    send.status, send.completed_at = SendStatus.COMPLETED, now
    by_status = await _recount(uow, send)
    uow.publish(
        SendCompleted(
            send_id=send.id,
            activity_id=send.activity_id,
            plan_id=send.plan_id,
            channel=send.channel,
            counts=SendCounts(
                **{s: n for s, n in by_status.items() if s in SendCounts.model_fields}
            ),
            completed_at=now,
        ),
        subject=send.id,
    )
    return True


async def cancel(uow: UnitOfWork, send: Send) -> None:
    """Nothing more of the send goes out: what is pending is cancelled. (A message a sender
    is handing to the mail server at this moment may still go; it stays marked cancelled.)"""
    if send.status in (SendStatus.COMPLETED, SendStatus.CANCELLED):
        return
    send.status = SendStatus.CANCELLED
    cancelled = await changed_rows(
        uow.session,
        update(Delivery)
        .where(Delivery.send_id == send.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, lease=None),
    )
    await moved(uow, {send.id: cancelled}, DeliveryStatus.CANCELLED, DeliveryStatus.PENDING)


async def resend_failed(uow: UnitOfWork, send: Send) -> int:
    """Try the failed deliveries of a send again, now; the send runs until they are done.
    Their attempts keep counting, so the ledger still shows the earlier ones."""
    if send.status in (SendStatus.SCHEDULED, SendStatus.CANCELLED):
        raise Conflict(f"a {send.status} send has no failed deliveries to send again")
    resent = await changed_rows(
        uow.session,
        update(Delivery)
        .where(
            Delivery.send_id == send.id,
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.contact_id.is_not(None),  # not to a person since erased
        )
        .values(status=DeliveryStatus.PENDING, next_attempt_at=uow.now(), lease=None),
    )
    if resent:
        send.status, send.completed_at = SendStatus.SENDING, None
    await moved(uow, {send.id: resent}, DeliveryStatus.PENDING, DeliveryStatus.FAILED)
    return resent
