"""Kafka wiring: the broker, the relay's producer, and consumers that validate, deduplicate,
retry and dead-letter — in batches.

Every subscriber has a group id and `AckPolicy.NACK_ON_ERROR`: the offsets of a batch are
committed only after all of it was handled (or dead-lettered) and committed in the
database, so a crash means redelivery, never loss — and the inbox makes redelivery harmless.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from aiokafka.producer.message_accumulator import BatchBuilder
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared import kafka_records
from shared import topics as topic_names
from shared.contracts import Envelope, EventData, InvalidEvent, UnknownEventType, registry
from shared.logging import Throttle, correlation, get_logger
from shared.metrics import (
    CONSUMER_DURATION,
    CONSUMER_FAILURES,
    CONSUMER_LAG,
    CONSUMER_MESSAGES,
    DLQ_MESSAGES,
    observe_many,
)
from shared.outbox import Outgoing
from shared.partitioning import partition_for
from shared.retry import backoff_delay, is_transient
from shared.uow import UnitOfWork

log = get_logger(__name__)

# Its first argument is the runtime's unit of work (a service's own subclass, with its
# repositories), its third the payload model the handler is registered for (a subclass of
# EventData): both Any, since a callable of a subclass is not a callable of the base to mypy.
Handler = Callable[[Any, Envelope, Any], Awaitable[None]]


def create_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    kafka_records.install()  # a header key aiokafka cannot decode stops no partition
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


class RelayProducer:
    """The outbox relay's own plain aiokafka producer. It fills the producer's record batches
    itself, one per partition, which costs a few microseconds a message where `send` costs
    about 18 and a publish through FastStream's middleware several times that (the relay needs
    none of it: the rows are serialised envelopes with their headers)."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._config = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": f"{client_id}-relay",
            "acks": "all",
            "enable_idempotence": False,  # as for the broker above
            "max_batch_size": 256 * 1024,  # a relay round of 3,000 rows in a few requests
        }
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect a new producer (an aiokafka producer cannot be started twice)."""
        await self.stop()
        self._producer = AIOKafkaProducer(**self._config)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()

    async def partition_of(self, topic: str, key: bytes) -> int:
        """The partition a message with this key goes to (the same as `send` would pick)."""
        producer = self._producer
        if producer is None:
            raise ConnectionError("the relay's producer is not connected")
        every = sorted(await producer.partitions_for(topic))
        return partition_for(key, every)

    async def publish(self, messages: Sequence[Outgoing]) -> None:
        """Send the messages, in order per partition; return once the broker has all of them.

        If a batch cannot be handed over, the ones already handed over settle before the error
        is raised, so no late send of this attempt can overtake the caller's retry."""
        producer = self._producer
        if producer is None:
            raise ConnectionError("the relay's producer is not connected")
        open_batches: dict[tuple[str, int], BatchBuilder] = {}
        sent: list[asyncio.Future] = []

        async def send(batch: BatchBuilder, topic: str, partition: int) -> None:
            batch.close()  # complete: the producer sends it without lingering
            sent.append(await producer.send_batch(batch, topic, partition=partition))

        try:
            partitions: dict[str, list[int]] = {}
            for topic, key, value, headers in messages:
                if topic not in partitions:
                    partitions[topic] = sorted(await producer.partitions_for(topic))
                partition = partition_for(key, partitions[topic])
                encoded = [(name, text.encode()) for name, text in headers.items()]
                batch = open_batches.get((topic, partition))
                if batch is None or (
                    batch.append(timestamp=None, key=key, value=value, headers=encoded) is None
                ):
                    if batch is not None:  # full: send it, this message starts the next one
                        await send(batch, topic, partition)
                    batch = open_batches[topic, partition] = producer.create_batch()
                    batch.append(timestamp=None, key=key, value=value, headers=encoded)
            for (topic, partition), batch in open_batches.items():
                await send(batch, topic, partition)
        except asyncio.CancelledError:
            raise  # shutting down: the producer's stop settles what it was handed
        except Exception:
            await asyncio.gather(*sent, return_exceptions=True)
            raise
        results = await asyncio.gather(*sent, return_exceptions=True)
        if failed := next((r for r in results if isinstance(r, BaseException)), None):
            raise failed


async def ensure_topics(
    bootstrap_servers: str,
    names: Iterable[str],
    partitions: int = 3,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
) -> None:
    """Create topics that do not exist yet (Kafka in production may not auto-create), with
    the topic `configs` given (e.g. {"retention.ms": "604800000"}; none: the broker's)."""
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
                            n,
                            num_partitions=partitions,
                            replication_factor=replication_factor,
                            topic_configs=dict(configs or {}),
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


@dataclass(slots=True)
class Incoming:
    """One record of a batch, parsed once; `outcome` is set as soon as its fate is known."""

    record: ConsumerRecord
    envelope: Envelope | None = None
    data: EventData | None = None
    handler: Handler | None = None
    outcome: str | None = None
    dlq_kind: str | None = None  # why it is dead-lettered: invalid, failed
    dlq_reason: str = ""

    def dead_letter(self, kind: str, reason: str) -> None:
        self.outcome, self.dlq_kind, self.dlq_reason = "dead_lettered", kind, reason


class BatchFailed(Exception):
    """The batch's transaction failed; `culprit` is the index of the message whose handler
    raised (None when the inbox claim or the commit failed)."""

    def __init__(self, error: Exception, culprit: int | None = None) -> None:
        super().__init__(repr(error))
        self.error = error
        self.culprit = culprit


class EventConsumer:
    """Takes messages in batches (up to `batch_size`, waiting at most `batch_wait_ms` for
    them), claims the whole batch in the inbox with one statement, runs the handlers in one
    transaction, commits, and only then commits the offsets — once per batch.

    If a handler raises, that transaction is rolled back and the batch is handled again one
    message at a time, each in its own transaction, retried and dead-lettered on its own, in
    order. An outage (database, network) is waited out and the whole batch redelivered.
    """

    def __init__(
        self,
        subscription: Subscription,
        broker: KafkaBroker,
        new_uow: Callable[[], UnitOfWork],
        *,
        max_attempts: int = 3,
        retry_delay: float = 0.2,
        batch_size: int = 2000,
        batch_wait_ms: int = 10,
        fetch_max_wait_ms: int = 50,
        session_timeout_ms: int = 10_000,
    ) -> None:
        self.sub = subscription
        self.broker = broker
        self.new_uow = new_uow
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.batch_size = batch_size
        self.batch_wait_ms = batch_wait_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.session_timeout_ms = session_timeout_ms
        self._outage_attempts = 0
        self._repeats = Throttle(every=60.0)  # the same failure over and over: a line a minute

    def register(self) -> None:
        # Create the label sets now, so the first failure shows as an increase() in alerts.
        for topic in self.sub.topics:
            CONSUMER_FAILURES.labels(self.sub.group_id, topic)
            for outcome in OUTCOMES:
                CONSUMER_MESSAGES.labels(self.sub.group_id, topic, outcome)
        for reason in ("invalid", "failed"):
            DLQ_MESSAGES.labels(self.sub.group_id, reason)
        self._subscriber = self.broker.subscriber(
            *self.sub.topics,
            group_id=self.sub.group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,  # a nack rewinds every partition of the batch
            auto_offset_reset="earliest",
            max_poll_interval_ms=self._longest_batch_ms(),
            batch=True,
            max_records=self.batch_size,
            batch_timeout_ms=self.batch_wait_ms,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.session_timeout_ms // 3,  # Kafka's advice
            parser=_parse_batch,
            decoder=_raw_bodies,
        )
        self._subscriber(self.consume)

    def _longest_batch_ms(self) -> int:
        """How long a batch whose every message keeps failing can take: each message's retry
        pauses (0.6 s by default) and attempts, in turn — 33 min for 2,000. The group must not
        take the consumer for dead meanwhile."""
        pauses = sum(min(5.0, self.retry_delay * 2**a) for a in range(self.max_attempts - 1))
        return int(max(300.0, self.batch_size * (pauses + 0.4)) * 1000)

    async def refresh_lag(self) -> None:
        """Each assigned partition's lag as a gauge: it shows a partition that makes no
        progress (stuck on a message, or in the client library) while the service looks well."""
        consumer = getattr(self._subscriber, "consumer", None)  # None until the broker is up
        if consumer is None:
            return
        for partition in consumer.assignment():
            end = consumer.highwater(partition)
            if end is None:  # nothing fetched from it yet
                continue
            committed = await consumer.committed(partition) or 0
            CONSUMER_LAG.labels(self.sub.group_id, partition.topic, str(partition.partition)).set(
                max(0, end - committed)
            )

    async def consume(self, message: KafkaMessage) -> None:
        """FastStream's handler for one batch: returning acks it (one offset commit),
        raising nacks it (every partition rewound to its first record of the batch)."""
        records: tuple[ConsumerRecord, ...] = message.raw_message  # type: ignore[assignment]
        started = time.perf_counter()
        batch = await self.handle(records)
        share = (time.perf_counter() - started) / max(1, len(batch))  # each message's
        outcomes = Counter((item.record.topic, item.outcome) for item in batch)
        for (topic, outcome), count in outcomes.items():
            CONSUMER_MESSAGES.labels(self.sub.group_id, topic, outcome).inc(count)
            observe_many(CONSUMER_DURATION.labels(self.sub.group_id, topic), share, count)

    async def handle(self, records: Sequence[ConsumerRecord]) -> list[Incoming]:
        """Give every record of the batch its fate; raise (→ redelivery) only on an outage.
        Dead letters go out after the database commits (and again if the batch comes back)."""
        batch = [self._parse(record) for record in records]
        await self._apply_in_batches(self._to_handle(batch))
        self._outage_attempts = 0
        for item in batch:
            if item.dlq_kind is not None:
                await self.dead_letter(item.record, reason=item.dlq_reason, kind=item.dlq_kind)
        return batch

    def _parse(self, record: ConsumerRecord) -> Incoming:
        item = Incoming(record)
        try:
            item.envelope, item.data = registry.parse(record.value or b"")
        except UnknownEventType:
            item.outcome = "ignored"  # a newer type (or version) than this service knows
        except InvalidEvent as exc:
            item.dead_letter("invalid", _unreadable_reason(record) or str(exc))
        else:
            item.handler = self.sub.handlers.get(type(item.data))
            if item.handler is None:
                item.outcome = "ignored"  # an event this group has no business with
        return item

    @staticmethod
    def _to_handle(batch: list[Incoming]) -> list[Incoming]:
        """The messages with a handler, each event once: a second copy in the same batch is a
        duplicate before any database sees it."""
        seen: set[str] = set()
        work = []
        for item in batch:
            if item.outcome is not None:
                continue
            assert item.envelope is not None
            if item.envelope.id in seen:
                item.outcome = "duplicate"
            else:
                seen.add(item.envelope.id)
                work.append(item)
        return work

    async def _apply_in_batches(self, work: list[Incoming]) -> None:
        """Apply `work` in one transaction. If a handler raises, the messages before it are
        applied again as a batch, then it alone (retried, then dead-lettered), then those
        after it as a batch: a failing message costs its own retries, not its batch's."""
        while work:
            try:
                await self._apply_batch(work)
                return
            except BatchFailed as failed:
                await self._wait_out_if_outage(failed.error)
                if failed.culprit is None:  # the inbox claim or the commit: no one to blame
                    for item in work:
                        await self._apply_alone(item)
                    return
                await self._apply_in_batches(work[: failed.culprit])
                await self._apply_alone(work[failed.culprit], first_error=failed.error)
                work = work[failed.culprit + 1 :]

    async def _apply_batch(self, work: list[Incoming]) -> None:
        """One transaction: claim every event in the inbox with one statement, run the
        handlers of those that were new, commit."""
        async with self.new_uow() as uow:
            envelopes = [item.envelope for item in work if item.envelope is not None]
            try:
                new = await uow.claim_inbox(self.sub.group_id, envelopes)
            except Exception as exc:
                raise BatchFailed(exc) from exc
            session = uow.session.sync_session
            for index, (item, envelope) in enumerate(zip(work, envelopes, strict=True)):
                if envelope.id not in new:
                    item.outcome = "duplicate"
                    continue
                assert item.handler is not None  # work is what has a handler (_to_handle)
                with correlation(envelope.correlationid):
                    try:
                        await item.handler(uow, envelope, item.data)
                        if not session._is_clean():  # (`new or dirty or deleted`, cheaper)
                            await uow.session.flush()  # its constraint errors are its own
                    except Exception as exc:
                        raise BatchFailed(exc, culprit=index) from exc
                item.outcome = "processed"
            try:
                await uow.commit()
            except Exception as exc:
                raise BatchFailed(exc) from exc
        log.debug("batch handled", group=self.sub.group_id, messages=len(work))

    async def _apply_alone(self, item: Incoming, *, first_error: Exception | None = None) -> None:
        """One message in its own transaction, retried with backoff, then dead-lettered.
        `first_error`: it already failed once, in its batch."""
        error, attempt = first_error, 0
        if first_error is not None:
            attempt = 1
            self._count_failure(item)
            self._log_failure(item, first_error, attempt=attempt)
        while attempt < self.max_attempts:
            if attempt:
                await asyncio.sleep(backoff_delay(attempt, base=self.retry_delay, cap=5.0))
            attempt += 1
            try:
                await self._apply_batch([item])
                return
            except BatchFailed as failed:
                error = failed.error
                self._count_failure(item)
                await self._wait_out_if_outage(error)
                self._log_failure(item, error, attempt=attempt)
        item.dead_letter("failed", f"handler failed {self.max_attempts} times: {error!r}")

    def _count_failure(self, item: Incoming) -> None:
        CONSUMER_FAILURES.labels(self.sub.group_id, item.record.topic).inc()

    async def _wait_out_if_outage(self, error: Exception) -> None:
        """An outage (database, network) is no fault of the message: wait, then raise so the
        batch is nacked and comes back whole — never skipped, never dead-lettered."""
        if not is_transient(error):
            return
        self._outage_attempts += 1
        delay = backoff_delay(self._outage_attempts, base=0.5, cap=30.0)
        if (held := self._repeats.let_through(("outage", type(error).__name__))) is not None:
            log.warning(
                "dependency unavailable; the batch will be redelivered",
                group=self.sub.group_id,
                error=repr(error),
                retry_in=round(delay, 2),
                repeated=held,
            )
        await asyncio.sleep(delay)
        raise error

    def _log_failure(self, item: Incoming, error: Exception, *, attempt: int) -> None:
        assert item.envelope is not None
        held = self._repeats.let_through(("failed", item.envelope.type, type(error).__name__))
        if held is None:
            return
        log.warning(
            "handler failed",
            event_id=item.envelope.id,
            event_type=item.envelope.type,
            attempt=attempt,
            error=repr(error),
            repeated=held,  # the same failure, held back since the last line
        )

    async def dead_letter(self, record: ConsumerRecord, *, reason: str, kind: str) -> None:
        headers = {k: (v or b"").decode(errors="replace") for k, v in (record.headers or ())}
        headers |= {
            "dlq_reason": reason[:4000],
            "dlq_group": self.sub.group_id,
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
        }
        # If this publish fails the batch is nacked and comes back: the inbox absorbs what
        # was already handled, and this message is dead-lettered again.
        value = record.value or b""
        try:
            await self._publish_dead_letter(value, record.key, headers)
        except MessageSizeTooLargeError:
            # the broker took it, our producer cannot send it whole: keep its start, say so
            headers |= {"dlq_truncated": "true", "dlq_original_size": str(len(value))}
            await self._publish_dead_letter(value[:DEAD_LETTER_MAX_VALUE], record.key, headers)
        DLQ_MESSAGES.labels(self.sub.group_id, kind).inc()
        if (held := self._repeats.let_through(("dead-lettered", kind, record.topic))) is not None:
            log.error(
                "message dead-lettered",
                reason=reason,
                topic=record.topic,
                offset=record.offset,
                repeated=held,
            )

    async def _publish_dead_letter(self, value: bytes, key: bytes | None, headers: dict) -> None:
        await self.broker.publish(
            value,
            self.sub.dead_letter_topic,
            key=key,
            headers=headers,
            correlation_id=headers.get("correlationid"),
        )


OUTCOMES = ("processed", "duplicate", "ignored", "dead_lettered")
DEAD_LETTER_MAX_VALUE = 512 * 1024  # what a dead letter keeps of a value too large to copy


async def _parse_batch(records: tuple[ConsumerRecord, ...], original):  # type: ignore[no-untyped-def]
    """FastStream's batch parser decodes every header of every record into dicts, which
    `consume` never reads (it reads the records): let it parse the first record alone and
    give it the whole batch as the raw message, which its nack rewinds.

    It decodes header values as UTF-8 and cannot even nack a batch whose first record's
    are not (or are null): then it parses a cleaned copy, and the record itself is handled
    or dead-lettered like any other. (A header *key* that is not UTF-8 is aiokafka's to
    read: see shared.kafka_records.)"""
    try:
        message = await original(records[:1])
    except (UnicodeDecodeError, AttributeError):  # AttributeError: a null value's .decode
        message = await original((_with_clean_headers(records[0]),))
    message.raw_message = records
    return message


def _unreadable_reason(record: ConsumerRecord) -> str | None:
    """Why the client could not read the batch this record stands for (shared.kafka_records)."""
    for key, value in record.headers or ():
        if key == kafka_records.UNREADABLE:
            return (value or b"").decode(errors="replace")
    return None


def _with_clean_headers(record: ConsumerRecord) -> ConsumerRecord:
    cleaned = tuple(
        (k, (v or b"").decode(errors="replace").encode()) for k, v in record.headers or ()
    )
    return dataclasses.replace(record, headers=cleaned)


async def _raw_bodies(message) -> list[bytes]:  # type: ignore[no-untyped-def]
    """No decoding by FastStream: `consume` validates the records' bytes itself, so a body
    that is not JSON goes to the DLQ instead of failing (and being redelivered) inside it."""
    return message.body
