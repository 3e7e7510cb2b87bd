"""The delivery sender: a background worker that e-mails pending deliveries over SMTP.

Deliveries are claimed with a lease (row locks + SKIP LOCKED on PostgreSQL; the lease
outlasts a whole batch of sends), sent outside any transaction, then recorded with their
event in one transaction — only by the sender that still holds the lease, so a delivery is
recorded (and reported) once. A crash between send and record means one resend, with the
same Message-ID, which lets a receiving system recognise the copy.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

import aiosmtplib
from sqlalchemy import select, update

from services.notifications.domain import (
    EMAIL_CHANNELS,
    DeliveryStatus,
    message_id,
    next_attempt,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Contact, Delivery
from shared.contracts.notifications import DeliveryFailed, DeliverySent
from shared.logging import get_logger
from shared.metrics import DELIVERIES
from shared.runtime import Runtime

log = get_logger(__name__)


async def run_sender(runtime: Runtime[NotificationsSettings]) -> None:
    """Send what is due, forever (if the database is away, the runtime starts it again)."""
    settings = runtime.settings
    for channel in EMAIL_CHANNELS:  # label sets exist from the start, for increase() in alerts
        for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            DELIVERIES.labels(channel, status)
    while True:
        sent = await send_due(runtime, settings)
        if sent < settings.send_batch_size:
            await asyncio.sleep(settings.send_poll_interval_seconds)


async def send_due(runtime: Runtime, settings: NotificationsSettings) -> int:
    # the lease outlasts the batch even if every send runs into its timeout
    lease = timedelta(seconds=settings.send_batch_size * settings.smtp_timeout_seconds + 60)
    lease_until, batch = await _claim(runtime, settings.send_batch_size, lease)
    for delivery, contact in batch:
        try:
            await _send(settings, delivery, contact)
        except Exception as exc:  # one bad delivery must not stop the others
            error = Failure(repr(exc), public_reason(exc), is_permanent(exc))
        else:
            error = None
        await _record(runtime, settings, delivery.id, lease_until, error)
    return len(batch)


@dataclass(frozen=True)
class Failure:
    """A failed attempt: the server's own words (`detail`, which may name the address: kept in
    this database only, for those who may see contacts) and the `reason` fit to leave it."""

    detail: str
    reason: str
    permanent: bool


def public_reason(exc: Exception) -> str:
    """Why a send failed, fit for events and logs: a category and the SMTP code, never the
    server's text (a refusal quotes the address)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(code) for code in sorted({r.code for r in exc.recipients}))
        return f"recipient refused (SMTP {codes})"
    for kind, what in (
        (aiosmtplib.SMTPRecipientRefused, "recipient refused"),
        (aiosmtplib.SMTPSenderRefused, "sender refused"),
        (aiosmtplib.SMTPDataError, "message refused"),
        (aiosmtplib.SMTPResponseException, "refused"),
    ):
        if isinstance(exc, kind):
            return f"{what} (SMTP {exc.code})"
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "mail server timed out"
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return f"mail server unreachable ({type(exc).__name__})"
    return f"not sent ({type(exc).__name__})"


def is_permanent(exc: Exception) -> bool:
    """Errors a retry cannot mend for this message: it cannot be built, or the server refused
    this recipient or this content for good (5xx). A refused greeting, login or sender is the
    server's or our configuration's fault: those are retried (and alerted on), not failed."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return isinstance(exc, ValueError | TypeError)


async def _claim(
    runtime: Runtime, limit: int, lease: timedelta
) -> tuple[datetime, list[tuple[Delivery, Contact | None]]]:
    now = runtime.clock()
    lease_until = now + lease
    async with runtime.sessions.begin() as session:
        rows = (
            await session.execute(
                select(Delivery, Contact)
                .outerjoin(Contact, Contact.id == Delivery.contact_id)
                .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Delivery)
            )
        ).all()
        if rows:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_([d.id for d, _ in rows]))
                .values(next_attempt_at=lease_until)
            )
    return lease_until, [(d, c) for d, c in rows]


async def _send(
    settings: NotificationsSettings, delivery: Delivery, contact: Contact | None
) -> None:
    name, address = (
        (contact.name, contact.email)
        if contact is not None
        else (delivery.recipient_name, delivery.recipient_email)
    )
    if not address:
        raise ValueError("the delivery has no recipient (their data was erased)")
    mail = EmailMessage()
    mail["From"] = settings.mail_from
    mail["To"] = Address(display_name=name or "", addr_spec=address)
    mail["Subject"] = delivery.subject
    mail["Message-ID"] = message_id(delivery.id)
    mail["X-Budskab-Delivery"] = delivery.id
    mail.set_content(delivery.body)
    if delivery.attachment:
        mail.add_attachment(
            delivery.attachment,
            subtype="calendar",
            filename="event.ics",
            params={"method": "PUBLISH"},
        )
    await aiosmtplib.send(
        mail,
        recipients=[address],  # never recipients parsed out of a display name
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        timeout=settings.smtp_timeout_seconds,
    )


async def _record(
    runtime: Runtime,
    settings: NotificationsSettings,
    delivery_id: str,
    lease_until: datetime,
    error: Failure | None,
) -> None:
    now = runtime.clock()
    async with runtime.uow() as uow:
        delivery = await uow.session.get(Delivery, delivery_id, with_for_update=True)
        assert delivery is not None
        if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at != lease_until:
            log.warning("lease lost; another sender records this delivery", delivery_id=delivery_id)
            return
        delivery.attempts += 1
        # an activity's deliveries are reported on the broker (metrics counts them); an
        # attendee's message is kept in this ledger only
        reported = delivery.activity_id is not None
        about = {
            "delivery_id": delivery.id,
            "activity_id": delivery.activity_id,
            "plan_id": delivery.plan_id,
            "contact_id": delivery.contact_id,
            "channel": delivery.channel,
        }
        if error is None:
            delivery.status, delivery.sent_at, delivery.last_error = DeliveryStatus.SENT, now, None
            if reported:
                uow.publish(DeliverySent(**about, sent_at=now), subject=delivery.id)
        elif error.permanent or delivery.attempts >= settings.send_max_attempts:
            delivery.status, delivery.last_error = DeliveryStatus.FAILED, error.detail
            if reported:
                uow.publish(
                    DeliveryFailed(**about, attempts=delivery.attempts, reason=error.reason),
                    subject=delivery.id,
                )
        else:
            delivery.last_error = error.detail
            delivery.next_attempt_at = next_attempt(
                now, delivery.attempts, settings.send_retry_base_seconds
            )
        await uow.commit()
    if delivery.status != DeliveryStatus.PENDING:
        DELIVERIES.labels(delivery.channel, delivery.status).inc()
        log.info(
            "delivery finished",
            delivery_id=delivery.id,
            status=delivery.status,
            reason=error and error.reason,
        )
    else:
        log.warning(
            "delivery attempt failed", delivery_id=delivery.id, reason=error and error.reason
        )
