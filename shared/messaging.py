"""Kafka wiring: the broker, and consumers that validate, deduplicate, retry and dead-letter.

Every subscriber has a group id and `AckPolicy.NACK_ON_ERROR`: the offset is committed
only after the message was handled (or dead-lettered), so a crash means redelivery,
never loss — and the inbox makes redelivery harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared import topics as topic_names
from shared.contracts import Envelope, EventData, InvalidEvent, UnknownEventType, registry
from shared.logging import correlation, get_logger
from shared.metrics import CONSUMER_DURATION, CONSUMER_FAILURES, CONSUMER_MESSAGES, DLQ_MESSAGES
from shared.retry import backoff_delay, is_transient
from shared.uow import UnitOfWork

log = get_logger(__name__)

Handler = Callable[[UnitOfWork, Envelope, EventData], Awaitable[None]]


def create_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    # No idempotent producer: the embedded broker rejects it; outbox + inbox give the effect.
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        graceful_timeout=10.0,
        logger=logging.getLogger("faststream"),  # through our JSON handler, not its own
        log_level=logging.DEBUG,  # its per-message "Received"/"Processed" lines; ours say more
    )


async def ensure_topics(
    bootstrap_servers: str, names: Iterable[str], partitions: int = 3, replication_factor: int = 1
) -> None:
    """Create topics that do not exist yet (Kafka in production may not auto-create)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            n, num_partitions=partitions, replication_factor=replication_factor
                        )
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass  # another replica won the race
    finally:
        await admin.close()


@dataclass
class Subscription:
    """One consumer group reading some topics, with a handler per event model it acts on."""

    group_id: str
    topics: tuple[str, ...]
    handlers: dict[type[EventData], Handler]

    @property
    def dead_letter_topic(self) -> str:
        return topic_names.dead_letter_topic(self.group_id)


class EventConsumer:
    def __init__(
        self,
        subscription: Subscription,
        broker: KafkaBroker,
        new_uow: Callable[[], UnitOfWork],
        *,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
    ) -> None:
        self.sub = subscription
        self.broker = broker
        self.new_uow = new_uow
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self._outage_attempts = 0

    def register(self) -> None:
        # Create the label sets now, so the first failure shows as an increase() in alerts.
        for topic in self.sub.topics:
            CONSUMER_FAILURES.labels(self.sub.group_id, topic)
            for outcome in ("processed", "duplicate", "ignored", "dead_lettered"):
                CONSUMER_MESSAGES.labels(self.sub.group_id, topic, outcome)
        for reason in ("invalid", "failed"):
            DLQ_MESSAGES.labels(self.sub.group_id, reason)
        self.broker.subscriber(
            *self.sub.topics,
            group_id=self.sub.group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            parser=_parse_tolerating_bad_headers,
            decoder=_raw_body,
        )(self.consume)

    async def consume(self, message: KafkaMessage) -> None:
        topic = message.raw_message.topic
        started = time.perf_counter()
        try:
            outcome = await self.handle(message.body, topic, message)
        finally:
            CONSUMER_DURATION.labels(self.sub.group_id, topic).observe(
                time.perf_counter() - started
            )
        CONSUMER_MESSAGES.labels(self.sub.group_id, topic, outcome).inc()

    async def handle(self, raw: bytes, topic: str, message: KafkaMessage) -> str:
        try:
            envelope, data = registry.parse(raw)
        except UnknownEventType:
            return "ignored"  # a newer type (or version) than this service knows
        except InvalidEvent as exc:
            await self.dead_letter(message, reason=str(exc), kind="invalid")
            return "dead_lettered"
        handler = self.sub.handlers.get(type(data))
        if handler is None:
            return "ignored"  # an event this group has no business with
        with correlation(envelope.correlationid):
            for attempt in range(1, self.max_attempts + 1):
                try:
                    outcome = await self._apply(handler, envelope, data)
                    self._outage_attempts = 0
                    return outcome
                except Exception as exc:
                    CONSUMER_FAILURES.labels(self.sub.group_id, topic).inc()
                    if is_transient(exc):
                        await self._wait_out_outage(envelope, exc)
                        raise  # nacked: the same message comes back, nothing is skipped
                    log.warning("handler failed", event_id=envelope.id, event_type=envelope.type,
                                attempt=attempt, error=repr(exc))  # fmt: skip
                    error = exc
                    if attempt < self.max_attempts:
                        await asyncio.sleep(backoff_delay(attempt, base=self.retry_delay, cap=5.0))
            reason = f"handler failed {self.max_attempts} times: {error!r}"
            await self.dead_letter(message, reason=reason, kind="failed")
            return "dead_lettered"

    async def _wait_out_outage(self, envelope: Envelope, exc: Exception) -> None:
        self._outage_attempts += 1
        delay = backoff_delay(self._outage_attempts, base=0.5, cap=30.0)
        log.warning("dependency unavailable; the event will be redelivered", event_id=envelope.id,
                    error=repr(exc), retry_in=round(delay, 2))  # fmt: skip
        await asyncio.sleep(delay)

    async def _apply(self, handler: Handler, envelope: Envelope, data: EventData) -> str:
        async with self.new_uow() as uow:
            if not await uow.claim_inbox(self.sub.group_id, envelope):
                log.info("duplicate event skipped", event_id=envelope.id, event_type=envelope.type)
                return "duplicate"
            await handler(uow, envelope, data)
            await uow.commit()
        log.info("event handled", event_id=envelope.id, event_type=envelope.type)
        return "processed"

    async def dead_letter(self, message: KafkaMessage, *, reason: str, kind: str) -> None:
        record = message.raw_message
        headers = {k: (v or b"").decode(errors="replace") for k, v in (record.headers or ())}
        headers |= {
            "dlq_reason": reason[:4000],
            "dlq_group": self.sub.group_id,
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
        }
        # If this publish fails the handler raises: the message is nacked and comes back.
        await self.broker.publish(
            record.value or b"",
            self.sub.dead_letter_topic,
            key=record.key,
            headers=headers,
            correlation_id=headers.get("correlationid"),
        )
        DLQ_MESSAGES.labels(self.sub.group_id, kind).inc()
        log.error("message dead-lettered", reason=reason, topic=record.topic, offset=record.offset)


async def _parse_tolerating_bad_headers(record: ConsumerRecord, original):  # type: ignore[no-untyped-def]
    """FastStream decodes header values as UTF-8 and cannot even nack a message whose headers
    are not (or are null): clean them so that such a message is handled or dead-lettered like
    any other. (A header *key* that is not UTF-8 already fails inside aiokafka: not covered.)"""
    headers = record.headers or ()
    if not all(isinstance(v, bytes) and _is_utf8(v) for _k, v in headers):
        cleaned = tuple((k, (v or b"").decode(errors="replace").encode()) for k, v in headers)
        record = dataclasses.replace(record, headers=cleaned)
    return await original(record)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


async def _raw_body(message) -> bytes:  # type: ignore[no-untyped-def]
    """Hand the handler the bytes: we validate them ourselves, so a body that is not JSON
    goes to the DLQ instead of failing (and being redelivered) inside FastStream."""
    return message.body
