"""The delivery sender: a background worker that sends pending deliveries — e-mails, text
messages and webhooks, each channel through its transport, at its pace and outside its quiet
hours.

A batch of due deliveries is claimed under a lease — a token of this sender's, held for
`send_lease_seconds` and renewed while it works (row locks + SKIP LOCKED on PostgreSQL,
so replicas take different batches) — and each claimed delivery counts an attempt *as it
starts*. The messages go out concurrently over the transport's pooled connections, outside
any transaction; their outcomes are recorded in groups as they finish, each group in one
transaction with its events, only for the deliveries this sender still holds. A sender killed mid-batch leaves its
deliveries leased for seconds; whoever takes them up counts a second attempt, the ledger's
mark of a possible second copy (which carries the same Message-ID, so a receiving system
can recognise it).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter
from sqlalchemy import func, or_, select, update

from services.notifications import compose, sends, templates, webhooks
from services.notifications.domain import (
    EMAIL_CHANNELS,
    SENT_CHANNELS,
    WEBHOOK,
    DeliveryStatus,
    Failure,
    Outcome,
    QuietHours,
    SendStatus,
    message_id,
    outcome,
)
from services.notifications.settings import NotificationsSettings
from services.notifications.suppressions import unsubscribe_url
from services.notifications.tables import Contact, Delivery, Send, SmsStop, Suppression, Webhook
from services.notifications.transport import (
    Transport,
    WebhookPoster,
    failure_of,
    sms_transport_for,
    transport_for,
)
from shared.contracts.notifications import DeliveryFailed, DeliverySent
from shared.contracts.vocabulary import MAX_SMS, ChannelKind
from shared.ids import new_id
from shared.logging import get_logger
from shared.metrics import DELIVERIES, DELIVERIES_DUE, DELIVERY_QUEUE_AGE, SENDS_RUNNING
from shared.runtime import Runtime

log = get_logger(__name__)

# how long outcomes gather before they are recorded: what a crash can send twice is what
# was in flight at the mail server plus at most this much of sending
GROUP_SECONDS = 0.02


async def run_sender(runtime: Runtime[NotificationsSettings]) -> None:
    """Send what is due, forever (if the database is away, the runtime starts it again)."""
    settings = runtime.settings
    for kind in SENT_CHANNELS:  # label sets exist from the start, for alerts
        for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
            DELIVERIES.labels(kind, status)
    channels = channels_for(settings)

    async def sending() -> None:
        while True:
            if not await send_due(runtime, channels):
                await asyncio.sleep(settings.send_poll_interval_seconds)

    workers = [asyncio.create_task(sending()) for _ in range(settings.send_concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:  # one failed (the runtime starts them all again) or all were cancelled
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for transport in {channel.transport for channel in channels.values()}:
            await transport.close()


@dataclass(frozen=True)
class Channel:
    """How one kind of message leaves: its transport, at most at its pace (`limiter`), never
    in its quiet hours (a send's messages wait them out; a person's own messages go)."""

    transport: Transport
    limiter: AsyncLimiter | None = None
    quiet_hours: QuietHours | None = None


def channels_for(
    settings: NotificationsSettings,
    *,
    email: Transport | None = None,
    sms: Transport | None = None,
    webhook: Transport | None = None,
) -> dict[str, Channel]:
    """The channels as the settings configure them (a test may hand in a transport)."""
    mail = Channel(
        email or transport_for(settings),
        rate_limiter(settings.smtp_rate_per_second),
        settings.send_quiet_hours,
    )
    text = Channel(
        sms or sms_transport_for(settings),
        rate_limiter(settings.sms_rate_per_second),
        settings.sms_quiet_hours,
    )
    hooks = Channel(
        webhook or WebhookPoster(settings), rate_limiter(settings.webhook_rate_per_second)
    )
    return {
        ChannelKind.EMAIL: mail,
        ChannelKind.NEWSLETTER: mail,
        ChannelKind.SMS: text,
        WEBHOOK: hooks,
    }


def rate_limiter(per_second: float | None) -> AsyncLimiter | None:
    """At most `per_second` messages a second, in bursts of at most one second's worth (of
    one message, when that is less than one)."""
    if per_second is None:
        return None
    burst = max(1.0, per_second)
    return AsyncLimiter(burst, burst / per_second)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 5x, a million times
class Claimed:
    """A claimed delivery as its sender needs it: the ledger's fields, whom to write to and
    what (a send's deliveries: the send's text)."""

    id: str
    send_id: str | None
    activity_id: str | None
    plan_id: str | None
    contact_id: str | None
    channel: str
    attempts: int  # this one included
    attachment: str | None
    name: str | None
    address: str | None
    phone: str | None  # a contact's
    subject: str
    body: str
    email_hash: str | None  # a contact's: the key of their unsubscribe link
    suppressed: bool
    language: str | None  # a contact's
    template: str | None  # a send's: how its message reaches each contact
    webhook_url: str | None  # a post to a subscribed system: where, signed with what
    webhook_secret: str | None
    scheduled_for: datetime


# One thread builds the e-mails, templates rendered: a costly template (up to its bound of
# CPU) then shares the GIL with the event loop instead of holding it, and builds never queue
# in front of the default executor's work (imports, template checks).
RENDERING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="templates")


async def send_due(runtime: Runtime[NotificationsSettings], channels: dict[str, Channel]) -> int:
    """Claim, send and record one batch; how many deliveries it held. Outcomes are recorded
    in groups as they come (what finishes within GROUP_SECONDS of the first, and whatever
    finished while the last group was being written): a crash re-sends no more than was in
    flight at the mail server and the last moment's sending."""
    lease = Lease(runtime, new_id())
    batch = await _claim(runtime, lease.token, channels)
    if not batch:
        return 0
    lease.hold([item.id for item in batch])
    wanted = {
        (i.template, language)
        for i in batch
        if i.template and i.channel in EMAIL_CHANNELS
        for language in (i.language or "da", "da")
    }
    async with runtime.sessions() as session:
        found = await templates.catalogue(session, wanted)

    async def attempt(
        item: Claimed, message: bytes | Exception | None
    ) -> tuple[Claimed, Failure | None]:
        channel = channels.get(item.channel)
        if channel is None:
            why = f"this service sends no {item.channel}"
            return item, Failure(why, why, permanent=True)
        if channel.limiter is not None and not item.suppressed:
            await channel.limiter.acquire()  # its pace: the lease is renewed meanwhile
            if message is None:  # built when its turn comes: its Date is when it went
                message = (await _built(runtime, [item], found)).get(item.id)
        if item.id not in lease.ours:  # taken over, or cancelled: not ours to send
            return item, None
        return item, await _attempt(runtime, channel.transport, item, message)

    async with lease.renewed():
        # unpaced e-mails built in one go; a paced one waits its turn (it may be minutes)
        paced = {kind for kind, channel in channels.items() if channel.limiter is not None}
        built = await _built(runtime, [i for i in batch if i.channel not in paced], found)
        # each message is let go as its attempt takes it: a batch's big newsletters are not
        # all held until the last is sent
        in_flight = {asyncio.create_task(attempt(item, built.pop(item.id, None))) for item in batch}
        try:
            while in_flight:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                if in_flight:  # and what finishes meanwhile: a transaction per group, not each
                    more, in_flight = await asyncio.wait(in_flight, timeout=GROUP_SECONDS)
                    done |= more
                async with lease.lock:  # never beside a renewal of the same rows
                    await _record(runtime, lease.token, [task.result() for task in done])
                    lease.ours -= {task.result()[0].id for task in done}
        finally:
            for task in in_flight:
                task.cancel()
    return len(batch)


class Lease:
    """A sender's hold on the deliveries it claimed, renewed while it works. `ours` is what
    it still holds: a delivery another sender took over (this one stalled past the lease)
    or that was cancelled meanwhile is not sent."""

    def __init__(self, runtime: Runtime[NotificationsSettings], token: str) -> None:
        self.runtime = runtime
        self.token = token
        self.ours: set[str] = set()
        self.lock = asyncio.Lock()

    def hold(self, ids: list[str]) -> None:
        self.ours = set(ids)

    async def renew(self) -> None:
        seconds = self.runtime.settings.send_lease_seconds
        async with self.lock, self.runtime.sessions.begin() as session:
            if not self.ours:
                return
            still = await session.scalars(
                update(Delivery)
                .where(
                    Delivery.id.in_(self.ours),
                    Delivery.lease == self.token,
                    Delivery.status == DeliveryStatus.PENDING,
                )
                .values(next_attempt_at=self.runtime.clock() + timedelta(seconds=seconds))
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            )
            self.ours &= set(still)

    @asynccontextmanager
    async def renewed(self) -> AsyncIterator[None]:
        """Keep the lease while the batch is being sent, however long the server takes."""

        async def keep() -> None:
            while True:
                await asyncio.sleep(self.runtime.settings.send_lease_seconds / 3)
                try:
                    await self.renew()
                except Exception as exc:  # the database away: try again at the next tick
                    log.warning("lease not renewed", error=type(exc).__name__)

        task = asyncio.create_task(keep())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _claim(
    runtime: Runtime[NotificationsSettings], lease: str, channels: dict[str, Channel]
) -> list[Claimed]:
    settings = runtime.settings
    now = runtime.clock()
    due = [Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now]
    quiet = [kind for kind, c in channels.items() if c.quiet_hours and c.quiet_hours.holds(now)]
    if quiet:  # of those channels, only a person's own messages go now
        due.append(or_(Delivery.send_id.is_(None), Delivery.channel.not_in(quiet)))
    async with runtime.sessions.begin() as session:
        ids = list(
            await session.scalars(
                select(Delivery.id)
                .where(*due)
                .order_by(Delivery.next_attempt_at)
                .limit(settings.send_batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return []
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                lease=lease,
                next_attempt_at=now + timedelta(seconds=settings.send_lease_seconds),
                attempts=Delivery.attempts + 1,  # counted as it starts
            )
            .execution_options(synchronize_session=False)
        )
        connection = await session.connection()  # plain rows: no ORM loading of a thousand
        rows = await connection.execute(
            select(
                Delivery.id,
                Delivery.send_id,
                Delivery.activity_id,
                Delivery.plan_id,
                Delivery.contact_id,
                Delivery.channel,
                Delivery.attempts,
                Delivery.attachment,
                func.coalesce(Contact.name, Delivery.recipient_name),
                func.coalesce(Contact.email, Delivery.recipient_email),
                Contact.phone,
                func.coalesce(Send.subject, Delivery.subject, ""),
                func.coalesce(Send.body, Delivery.body, ""),
                Contact.email_hash,
                # an address's suppression stops e-mail to it, a STOP from the number a text
                # (since the fan-out too: a text may wait out the night); the rest the
                # fan-out decided
                (Suppression.reason.is_not(None) & Delivery.channel.in_(EMAIL_CHANNELS))
                | (SmsStop.phone.is_not(None) & (Delivery.channel == ChannelKind.SMS)),
                Contact.language,
                Send.template,
                Webhook.url,
                Webhook.secret,
                Delivery.scheduled_for,
            )
            .outerjoin(Contact, Contact.id == Delivery.contact_id)
            .outerjoin(Webhook, Webhook.id == Delivery.webhook_id)
            .outerjoin(Send, Send.id == Delivery.send_id)
            .outerjoin(Suppression, Suppression.email_hash == Contact.email_hash)
            .outerjoin(SmsStop, SmsStop.phone == Contact.phone)
            .where(Delivery.id.in_(ids))
        )
        return [Claimed(*row) for row in rows]


async def _built(
    runtime: Runtime[NotificationsSettings],
    batch: list[Claimed],
    found: dict[tuple[str, str], templates.Template],
) -> dict[str, bytes | Exception]:
    """The batch's e-mails, each as bytes or as why it cannot be built, all in one go in the
    rendering thread (a hop to a thread for each message cost more than many build)."""
    emails = [i for i in batch if i.channel in EMAIL_CHANNELS and not i.suppressed]
    if not emails:
        return {}
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(RENDERING, _build_each, runtime, emails, found)


def _build_each(
    runtime: Runtime[NotificationsSettings],
    items: list[Claimed],
    found: dict[tuple[str, str], templates.Template],
) -> dict[str, bytes | Exception]:
    built: dict[str, bytes | Exception] = {}
    for item in items:
        try:
            built[item.id] = build_message(runtime, item, found)
        except Exception as exc:  # one bad message must not stop the others
            built[item.id] = exc
    return built


async def _attempt(
    runtime: Runtime[NotificationsSettings],
    transport: Transport,
    item: Claimed,
    message: bytes | Exception | None,
) -> Failure | None:
    """One delivery's attempt; an e-mail's `message` was built beforehand (`_built`)."""
    if item.suppressed:
        return None  # recorded as suppressed, not sent
    try:
        if item.channel == ChannelKind.SMS:
            await transport.send(sms_text(item).encode(), item.phone or "")
            return None
        if item.channel == WEBHOOK:
            await _post(runtime, transport, item)
            return None
        if isinstance(message, Exception):
            return failure_of(message)
        if message is None or not item.address:
            raise ValueError("the e-mail was not built")
        await transport.send(message, item.address)
    except Exception as exc:  # one bad delivery must not stop the others
        return failure_of(exc)
    return None


async def _post(
    runtime: Runtime[NotificationsSettings], transport: Transport, item: Claimed
) -> None:
    if item.webhook_url is None or item.webhook_secret is None:
        raise ValueError("the webhook was removed")
    payload = webhooks.body(
        delivery_id=item.id,
        at=item.scheduled_for,
        send={
            "send_id": item.send_id,
            "activity_id": item.activity_id,
            "plan_id": item.plan_id,
            "subject": item.subject,
            "body": item.body,
        },
    )
    headers = webhooks.signed_headers(item.webhook_secret, item.id, runtime.clock(), payload)
    await transport.send(payload, item.webhook_url, headers)


def sms_text(item: Claimed) -> str:
    """A send's text message: its body, as written (a template's layout is for e-mail)."""
    if not item.phone:
        raise ValueError("the contact has no phone number (any more)")
    if len(item.body) > MAX_SMS:
        raise ValueError(f"the text is longer than the {MAX_SMS} characters an SMS may carry")
    return item.body


def build_message(
    runtime: Runtime[NotificationsSettings],
    item: Claimed,
    found: dict[tuple[str, str], templates.Template],
) -> bytes:
    """A send's message through its template, in the contact's language; an attendee's
    message as it was written for them."""
    if not item.address:
        raise ValueError("the delivery has no recipient (their data was erased)")
    settings = runtime.settings
    headers = {"X-Budskab-Delivery": item.id}
    subject, text, html = item.subject, item.body, None
    if item.email_hash:  # a send to a list: one click takes the address off it (RFC 8058)
        link = unsubscribe_url(settings, item.email_hash)
        headers["List-Unsubscribe"] = f"<{link}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if item.template:
        template = templates.choose(found, item.template, item.language or "da")
        if template is None:
            raise ValueError(f"the send's template {item.template!r} is gone")
        rendered = templates.render(
            template,
            {
                "contact": {"name": item.name, "language": item.language},
                "message": {"subject": item.subject, "body": item.body},
                "unsubscribe_url": link if item.email_hash else "",
            },
        )
        subject, text, html = rendered.subject, rendered.text, rendered.html
    return compose.message(
        sender=settings.mail_from,
        name=item.name or "",
        address=item.address or "",
        subject=subject,
        text=text,
        html=html,
        calendar=item.attachment,
        message_id=message_id(item.id),
        date=runtime.clock(),
        headers=headers,
    )


async def _record(
    runtime: Runtime[NotificationsSettings],
    lease: str,
    results: list[tuple[Claimed, Failure | None]],
) -> None:
    """The outcomes in one transaction, for the deliveries this sender still holds: one
    statement for all that went (or were suppressed), one per failure."""
    settings = runtime.settings
    async with runtime.uow() as uow:
        now = uow.now()
        # the sends first, as everything that changes their deliveries does (see sends.py)
        touched = await sends.locked(uow, [item.send_id for item, _ in results if item.send_id])
        alike: dict[Outcome, list[tuple[Claimed, Failure | None]]] = {}
        for item, failure in results:
            result = (
                Outcome(DeliveryStatus.SUPPRESSED)
                if item.suppressed
                else outcome(
                    failure,
                    item.attempts,
                    now,
                    max_attempts=settings.send_max_attempts,
                    base=settings.send_retry_base_seconds,
                )
            )
            alike.setdefault(result, []).append((item, failure))
        finished = []
        for result, items in alike.items():
            held = set(
                await uow.session.scalars(
                    update(Delivery)
                    .where(
                        Delivery.id.in_([item.id for item, _ in items]),
                        Delivery.lease == lease,
                        Delivery.status == DeliveryStatus.PENDING,
                    )
                    .values(_changes(result, now))
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
            )
            if result.status != DeliveryStatus.PENDING:  # else: to be tried again
                per_send = Counter(item.send_id for item, _ in items if item.id in held)
                await sends.moved(uow, per_send, result.status, DeliveryStatus.PENDING)
            for item, failure in items:
                if item.id not in held:
                    log.warning(
                        "lease lost; another sender records this delivery",
                        delivery_id=item.id,
                    )
                    continue
                _report(uow, item, result, failure, now)
                if result.status != DeliveryStatus.PENDING:
                    finished.append((item, result.status, failure))
        for send in touched:
            await sends.complete_if_done(uow, send)
        await uow.commit()
    for (channel, status), count in Counter((d.channel, s) for d, s, _ in finished).items():
        DELIVERIES.labels(channel, status).inc(count)
    for delivery, _, failure in finished:
        if failure is not None:
            log.info("delivery failed", delivery_id=delivery.id, reason=failure.reason)


def _changes(result: Outcome, now: datetime) -> dict[str, object]:
    changes: dict[str, object] = {"status": result.status, "last_error": result.last_error}
    changes["lease"] = None
    if result.next_attempt_at is not None:
        changes["next_attempt_at"] = result.next_attempt_at
    if result.status == DeliveryStatus.SENT:
        changes["sent_at"] = now
    return changes


def _report(
    uow, delivery: Claimed, result: Outcome, failure: Failure | None, now: datetime
) -> None:  # type: ignore[no-untyped-def]
    """An activity's deliveries are reported on the broker, one event each (planning and
    metrics count them); a send made through the API and an attendee's message are kept in
    this ledger and in the send's completion."""
    if delivery.activity_id is None or delivery.plan_id is None or delivery.contact_id is None:
        return
    about = {
        "delivery_id": delivery.id,
        "activity_id": delivery.activity_id,
        "plan_id": delivery.plan_id,
        "contact_id": delivery.contact_id,
        "channel": delivery.channel,
    }
    if result.status == DeliveryStatus.SENT:
        uow.publish(DeliverySent(**about, sent_at=now), subject=delivery.id)
    elif result.status == DeliveryStatus.FAILED and failure is not None:
        uow.publish(
            DeliveryFailed(**about, attempts=delivery.attempts, reason=failure.reason),
            subject=delivery.id,
        )


async def run_queue_gauges(runtime: Runtime[NotificationsSettings]) -> None:
    """The queue on /metrics: what is due and unsent, how long the oldest has waited, and
    how many sends are running — an SMTP server that stalls shows as a growing age."""
    while True:
        now = runtime.clock()
        async with runtime.sessions() as session:
            due, oldest = (
                await session.execute(
                    select(func.count(), func.min(Delivery.next_attempt_at)).where(
                        Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now
                    )
                )
            ).one()
            running = await session.scalar(
                select(func.count()).select_from(Send).where(Send.status == SendStatus.SENDING)
            )
        DELIVERIES_DUE.set(due)
        DELIVERY_QUEUE_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
        SENDS_RUNNING.set(running or 0)
        await asyncio.sleep(5.0)
