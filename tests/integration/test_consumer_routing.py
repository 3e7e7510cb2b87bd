"""The consumer's routing and dead-lettering through FastStream's TestKafkaBroker: no broker,
each message handed to the subscriber in memory, the inbox in a real SQLite file. Fast
enough to try every fate of a message; the same fates over a real broker, in batches, on
both databases, are in test_consumers.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from sqlalchemy import MetaData, func, select

from shared import topics
from shared.contracts import Envelope, new_envelope
from shared.contracts.events import EventCreated
from shared.contracts.notifications import DeliverySent
from shared.db import create_engine, create_sessions
from shared.inbox import inbox_table
from shared.messaging import EventConsumer, Subscription, create_broker
from shared.outbox import outbox_table
from shared.uow import UnitOfWork
from tests.services import delivery_sent_value

pytestmark = pytest.mark.integration

GROUP = "routing"


@dataclass
class Routed:
    broker: KafkaBroker
    inbox_rows: object  # () -> awaitable count
    handled: list[tuple[Envelope, DeliverySent]] = field(default_factory=list)
    dead: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)  # delivery ids whose handler raises


@pytest.fixture
async def routed(tmp_path) -> AsyncIterator[Routed]:  # type: ignore[no-untyped-def]
    metadata = MetaData()
    outbox, inbox = outbox_table(metadata), inbox_table(metadata)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/routing.db")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    sessions = create_sessions(engine)

    async def inbox_rows() -> int:
        async with sessions() as session:
            return await session.scalar(select(func.count()).select_from(inbox)) or 0

    broker = create_broker("127.0.0.1:9092", "routing")  # never connected: TestKafkaBroker
    state = Routed(broker, inbox_rows)

    async def on_delivery(_uow: UnitOfWork, envelope: Envelope, data: DeliverySent) -> None:
        if data.delivery_id in state.failing:
            raise RuntimeError("the handler fails")
        state.handled.append((envelope, data))

    subscription = Subscription(GROUP, (topics.DELIVERIES,), {DeliverySent: on_delivery})
    EventConsumer(
        subscription,
        broker,
        lambda: UnitOfWork(sessions, outbox=outbox, inbox=inbox, source="/routing"),
        retry_delay=0.01,
    ).register()

    @broker.subscriber(subscription.dead_letter_topic)
    async def keep_dead_letter(message: KafkaMessage) -> None:
        state.dead.append((message.body, dict(message.headers)))

    async with TestKafkaBroker(broker):
        yield state
    await engine.dispose()


async def publish(routed: Routed, value: bytes) -> None:
    await routed.broker.publish(value, topics.DELIVERIES, key=b"d-1")


async def test_an_event_reaches_its_handler_typed_once_however_often_it_comes(
    routed: Routed,
) -> None:
    event = delivery_sent_value("plan-routing")
    await publish(routed, event)
    await publish(routed, event)  # the same event again: the inbox has it
    [(envelope, data)] = routed.handled
    assert isinstance(data, DeliverySent) and data.plan_id == "plan-routing"
    assert envelope.id == json.loads(event)["id"] and envelope.type == "delivery.sent.v1"
    assert await routed.inbox_rows() == 1 and routed.dead == []


async def test_events_this_group_does_not_handle_or_know_are_passed_over(
    routed: Routed,
) -> None:
    other = new_envelope(
        EventCreated(
            event_id="e-1",
            activity_id="a-1",
            plan_id="p-1",
            title="Velfærdens innovationsdag",
            format="theme_day",
            starts_at="2016-01-20T08:00:00Z",
            capacity=300,
        ),
        source="/events",
        subject="e-1",
        correlation_id="c",
    )
    newer = json.loads(delivery_sent_value("plan-newer")) | {"type": "delivery.sent.v9"}
    await publish(routed, other.model_dump_json().encode())
    await publish(routed, json.dumps(newer).encode())
    assert routed.handled == [] and routed.dead == []
    assert await routed.inbox_rows() == 0  # nothing claimed: a later version may handle them


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_origin(
    routed: Routed,
) -> None:
    missing_field = delivery_sent_value("plan-bad").replace(b'"contact_id":"c-1",', b"")
    await publish(routed, b"this is not json")
    await publish(routed, missing_field)
    await publish(routed, delivery_sent_value("plan-ok"))
    assert [data.plan_id for _, data in routed.handled] == ["plan-ok"]
    (first, first_headers), (second, second_headers) = routed.dead
    assert first == b"this is not json"  # the original, untouched, for replay
    assert first_headers["dlq_reason"].startswith("invalid envelope")
    assert first_headers["dlq_original_topic"] == topics.DELIVERIES
    assert first_headers["dlq_group"] == GROUP
    assert "invalid data for delivery.sent.v1: contact_id" in second_headers["dlq_reason"]
    assert second == missing_field


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered_alone(
    routed: Routed,
) -> None:
    failing = delivery_sent_value("plan-failing").replace(b'"d-1"', b'"d-failing"')
    routed.failing.add("d-failing")
    await publish(routed, failing)
    await publish(routed, delivery_sent_value("plan-after"))
    [(body, headers)] = routed.dead
    assert body == failing
    assert headers["dlq_reason"].startswith("handler failed 3 times: RuntimeError")
    assert [data.plan_id for _, data in routed.handled] == ["plan-after"]
    assert await routed.inbox_rows() == 1  # the failed one is not claimed: a replay retries it
