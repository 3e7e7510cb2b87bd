"""How a consumer handles one batch, without a broker: the records are handed to
`EventConsumer.handle` as FastStream would, the unit of work is real (SQLite and PostgreSQL),
dead letters are caught by a stand-in for the broker's publish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import MetaData, select
from sqlalchemy.exc import OperationalError

from shared import topics
from shared.contracts import new_envelope
from shared.contracts.notifications import DeliverySent
from shared.db import create_engine, create_sessions
from shared.inbox import inbox_table
from shared.messaging import EventConsumer, Subscription
from shared.outbox import outbox_table
from shared.uow import UnitOfWork

pytestmark = pytest.mark.integration


class Deliveries:
    """Records for the deliveries topic, one per delivery id, in partition order."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def record(self, offset: int, delivery_id: str) -> ConsumerRecord:
        data = DeliverySent(
            delivery_id=delivery_id,
            activity_id="a",
            plan_id="p",
            contact_id="c",
            channel="newsletter",
            sent_at=datetime.now(UTC),
        )
        envelope = new_envelope(data, source="/tests", subject="k", correlation_id="c")
        self.ids[delivery_id] = envelope.id
        value = envelope.model_dump_json().encode()
        return ConsumerRecord(
            topic=topics.DELIVERIES,
            partition=0,
            offset=offset,
            timestamp=0,
            timestamp_type=0,
            key=b"k",
            value=value,
            checksum=None,
            serialized_key_size=1,
            serialized_value_size=len(value),
            headers=(),
        )


class DeadLetters:
    """Stands in for the FastStream broker: the consumer only publishes dead letters to it."""

    def __init__(self) -> None:
        self.published: list[dict] = []

    async def publish(self, value: bytes, topic: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
        self.published.append({"value": value, "topic": topic, **kwargs})


@pytest.fixture
async def consumer_parts(database_url: str):  # type: ignore[no-untyped-def]
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    sessions = create_sessions(engine)
    transactions: list[int] = []

    def new_uow() -> UnitOfWork:
        transactions.append(1)
        return UnitOfWork(sessions, outbox=outbox, inbox=inbox, source="/tests")

    async def claimed() -> set[str]:
        async with sessions() as session:
            return set(await session.scalars(select(inbox.c.event_id)))

    yield new_uow, transactions, claimed
    await engine.dispose()


def consumer(handler, new_uow, dead_letters: DeadLetters, max_attempts: int = 3) -> EventConsumer:  # type: ignore[no-untyped-def]
    subscription = Subscription("tests", (topics.DELIVERIES,), {DeliverySent: handler})
    return EventConsumer(
        subscription,
        dead_letters,
        new_uow,
        max_attempts=max_attempts,  # type: ignore[arg-type]
        retry_delay=0.01,
    )


async def test_a_failing_handler_costs_its_own_retries_and_the_rest_is_applied_in_batches(
    consumer_parts,  # type: ignore[no-untyped-def]
) -> None:
    new_uow, transactions, claimed = consumer_parts
    calls: list[str] = []

    async def handler(_uow, _envelope, data) -> None:  # type: ignore[no-untyped-def]
        calls.append(data.delivery_id)
        if data.delivery_id == "poison":
            raise RuntimeError("no such contact")

    deliveries, dead = Deliveries(), DeadLetters()
    names = ["d0", "d1", "poison", "d3", "d4"]
    records = [deliveries.record(offset, name) for offset, name in enumerate(names)]
    batch = await consumer(handler, new_uow, dead).handle(records)

    # the batch fails at the poison; the two before it again as a batch; the poison alone,
    # twice more; the two after it as a batch — in the order of the partition
    assert calls == ["d0", "d1", "poison", "d0", "d1", "poison", "poison", "d3", "d4"]
    assert len(transactions) == 5
    assert [item.outcome for item in batch] == [
        "processed",
        "processed",
        "dead_lettered",
        "processed",
        "processed",
    ]
    assert await claimed() == {deliveries.ids[n] for n in ("d0", "d1", "d3", "d4")}
    [letter] = dead.published
    assert letter["topic"] == "tests.dlq" and letter["value"] == records[2].value
    assert letter["headers"]["dlq_reason"] == (
        "handler failed 3 times: RuntimeError('no such contact')"
    )


async def test_with_one_attempt_the_batch_failure_is_the_reason(consumer_parts) -> None:  # type: ignore[no-untyped-def]
    new_uow, _transactions, claimed = consumer_parts

    async def handler(_uow, _envelope, data) -> None:  # type: ignore[no-untyped-def]
        if data.delivery_id == "poison":
            raise ValueError("bad goal")

    deliveries, dead = Deliveries(), DeadLetters()
    records = [deliveries.record(0, "poison"), deliveries.record(1, "d1")]
    await consumer(handler, new_uow, dead, max_attempts=1).handle(records)
    [letter] = dead.published
    assert letter["headers"]["dlq_reason"] == "handler failed 1 times: ValueError('bad goal')"
    assert await claimed() == {deliveries.ids["d1"]}


async def test_an_outage_raises_for_redelivery_and_leaves_nothing_behind(consumer_parts) -> None:  # type: ignore[no-untyped-def]
    new_uow, _transactions, claimed = consumer_parts

    async def handler(_uow, _envelope, data) -> None:  # type: ignore[no-untyped-def]
        if data.delivery_id == "d1":
            raise OperationalError("INSERT …", {}, ConnectionRefusedError("database is away"))

    deliveries, dead = Deliveries(), DeadLetters()
    records = [deliveries.record(0, "d0"), deliveries.record(1, "d1")]
    with pytest.raises(OperationalError):
        await consumer(handler, new_uow, dead).handle(records)
    assert dead.published == [] and await claimed() == set()
