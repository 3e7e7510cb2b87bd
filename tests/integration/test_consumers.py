"""Consumers over the real broker: redelivery has one effect, bad messages go to the DLQ
with their reason and the consumer carries on. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from scripts.stack import Postgres, Tansu
from services.metrics.app import create_app
from services.metrics.settings import MetricsSettings
from shared import topics
from shared.topics import dead_letter_topic
from tests.helpers import (
    RawHeaderKey,
    auth,
    corrupt_crc,
    eventually,
    produce,
    produce_one_batch,
    read_topic,
    runtime_of,
    serving,
    settings_for,
)
from tests.services import delivery_sent_value

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")


async def counts(client, plan_id: str) -> dict:  # type: ignore[no-untyped-def]
    return (await client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST)).json()


async def test_the_same_event_delivered_twice_has_one_effect(
    database_url: str, broker: Tansu
) -> None:
    app = create_app(settings_for(MetricsSettings, database_url, broker.bootstrap))
    event = delivery_sent_value("plan-twice")
    # sent after both copies: once it counts, they were seen
    marker = delivery_sent_value("plan-marker")
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [(b"d-1", event), (b"d-1", event), (b"d-1", marker)],
        )
        await eventually(lambda: counts(client, "plan-marker"), lambda c: c["total"] == 1)
        assert (await counts(client, "plan-twice"))["counts"] == {"delivery.sent.v1": 1}
        async with runtime_of(app).sessions() as session:
            assert (
                await session.scalar(select(func.count()).select_from(runtime_of(app).inbox)) == 2
            )


async def test_a_malformed_message_is_dead_lettered_with_its_reason_and_the_next_one_is_handled(
    database_url: str, broker: Tansu
) -> None:
    app = create_app(settings_for(MetricsSettings, database_url, broker.bootstrap))
    missing_field = delivery_sent_value("plan-bad").replace(b'"contact_id":"c-1",', b"")
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [
                (b"d-1", b"this is not json"),
                (b"d-1", missing_field),
                (b"d-1", delivery_sent_value("plan-ok")),
            ],
        )
        await eventually(lambda: counts(client, "plan-ok"), lambda c: c["total"] == 1)
        assert (await counts(client, "plan-bad"))["total"] == 0

    dead = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=2)
    assert len(dead) == 2
    reasons = [dict(r.headers)["dlq_reason"].decode() for r in dead]
    assert reasons[0].startswith("invalid envelope")
    assert "invalid data for delivery.sent.v1" in reasons[1] and "contact_id" in reasons[1]
    assert dead[0].value == b"this is not json"  # the original, untouched, for replay
    assert dict(dead[0].headers)["dlq_original_topic"] == topics.DELIVERIES.encode()


async def test_a_message_too_large_to_copy_whole_is_dead_lettered_truncated_and_the_next_handled(
    broker: Tansu, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The broker took 1.2 MB that our producer cannot send on: the partition must not stall."""
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    huge = b"not an event " * 100_000  # 1.3 MB
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [(b"d-1", huge), (b"d-1", delivery_sent_value("plan-ok"))],
            max_request_size=2 * 1024 * 1024,
        )
        await eventually(lambda: counts(client, "plan-ok"), lambda c: c["total"] == 1)
    [dead] = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert headers["dlq_truncated"] == "true" and headers["dlq_original_size"] == str(len(huge))
    assert headers["dlq_reason"].startswith("invalid envelope")
    assert dead.value == huge[: len(dead.value)] and len(dead.value) == 512 * 1024


async def test_a_partition_that_makes_no_progress_shows_as_lag(
    broker: Tansu, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A handler stuck on one message holds its partition: the lag gauge says so (and the
    stalled-consumer alert fires on it), and falls to 0 once the partition moves again."""
    from services.metrics import handlers

    original, stuck, release = handlers.count_event, asyncio.Event(), asyncio.Event()

    async def hangs_on_one(uow, envelope, data):  # type: ignore[no-untyped-def]
        if data.plan_id == "plan-stuck":
            stuck.set()
            await release.wait()
        await original(uow, envelope, data)

    monkeypatch.setattr(handlers, "count_event", hangs_on_one)
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    runtime = runtime_of(app)

    def lag() -> float:
        return sum(
            sample.value
            for metric in REGISTRY.collect()
            if metric.name == "budskab_consumer_lag"
            for sample in metric.samples
            if sample.labels["topic"] == topics.DELIVERIES
            and sample.labels["group"] == runtime.consumers[0].sub.group_id
        )

    async with serving(app) as client:
        messages = [(b"d-1", delivery_sent_value("plan-stuck"))]
        messages += [(b"d-1", delivery_sent_value("plan-ok")) for _ in range(5)]  # five events
        await produce(broker.bootstrap, topics.DELIVERIES, messages)
        await asyncio.wait_for(stuck.wait(), 30)
        for consumer in runtime.consumers:
            await consumer.refresh_lag()
        assert lag() == 6
        assert "budskab_consumer_lag{" in (await client.get("/metrics")).text
        release.set()
        await eventually(lambda: counts(client, "plan-ok"), lambda c: c["total"] == 5)

        async def lag_now() -> float:
            for consumer in runtime.consumers:
                await consumer.refresh_lag()
            return lag()

        assert await eventually(lag_now, lambda value: value == 0) == 0


async def test_a_handler_that_keeps_failing_is_retried_then_dead_lettered(
    database_url: str, broker: Tansu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.metrics import handlers

    original = handlers.count_event
    attempts: list[str] = []

    async def flaky(uow, envelope, data):  # type: ignore[no-untyped-def]
        if data.plan_id == "plan-poison":
            attempts.append(envelope.id)
            raise RuntimeError("database constraint the handler did not expect")
        await original(uow, envelope, data)

    monkeypatch.setattr(handlers, "count_event", flaky)
    app = create_app(
        settings_for(MetricsSettings, database_url, broker.bootstrap, consumer_max_attempts=3)
    )
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [
                (b"d-1", delivery_sent_value("plan-poison")),
                (b"d-1", delivery_sent_value("plan-after")),
            ],
        )
        await eventually(lambda: counts(client, "plan-after"), lambda c: c["total"] == 1)
        await asyncio.sleep(0.2)
    assert len(attempts) == 3
    dead = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1)
    assert "handler failed 3 times" in dict(dead[0].headers)["dlq_reason"].decode()


async def test_messages_faststream_cannot_decode_still_reach_the_dlq(
    broker: Tansu, tmp_path
) -> None:
    """A body that claims to be JSON and is not, headers that are not UTF-8 or are null: none
    may stall the partition (redelivered forever) nor be skipped silently."""
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [
                (b"d-1", b"{not json", [("content-type", b"application/json")]),
                (
                    b"d-1",
                    delivery_sent_value("plan-latin1"),
                    [("sender", "Århus".encode("latin-1"))],
                ),
                (b"d-1", delivery_sent_value("plan-null-header"), [("trace", None)]),
                (b"d-1", delivery_sent_value("plan-after"), []),
            ],
        )
        await eventually(lambda: counts(client, "plan-after"), lambda c: c["total"] == 1)
        assert (await counts(client, "plan-latin1"))["total"] == 1  # handled, bad header and all
        assert (await counts(client, "plan-null-header"))["total"] == 1
    dead = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1)
    assert [r.value for r in dead] == [b"{not json"]
    assert dict(dead[0].headers)["dlq_reason"].decode().startswith("invalid envelope")


async def test_a_header_key_that_is_not_utf8_stops_nothing(broker: Tansu, tmp_path) -> None:
    """aiokafka cannot decode such a key and, left alone, stops the partition at it for good
    (dropping what its fetch had read before it): the record, those beside it in its batch
    and those after it are all handled."""
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    async with serving(app) as client:
        await produce_one_batch(
            broker.bootstrap,
            topics.DELIVERIES,
            0,
            [
                (b"d-1", delivery_sent_value("plan-before"), [("sender", b"ok")]),
                (b"d-1", delivery_sent_value("plan-bad-key"), [(RawHeaderKey(b"\xff\xfe"), b"x")]),
                (b"d-1", delivery_sent_value("plan-beside"), []),
            ],
        )
        await produce_one_batch(
            broker.bootstrap,
            topics.DELIVERIES,
            0,
            [(b"d-1", delivery_sent_value("plan-after"), [])],
        )
        await eventually(lambda: counts(client, "plan-after"), lambda c: c["total"] == 1)
        for plan in ("plan-before", "plan-bad-key", "plan-beside"):
            assert (await counts(client, plan))["total"] == 1, plan


async def test_a_corrupt_batch_stops_nothing(broker: Tansu, tmp_path) -> None:
    """The broker stores a batch whose CRC does not match (Tansu does not check); aiokafka
    refuses it at every poll and, left alone, the partition stops there for good. It is
    dead-lettered with its reason and coordinates, and what follows it is handled."""
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    dlq_before = REGISTRY.get_sample_value(
        "budskab_dlq_messages_total", {"group": "metrics", "reason": "invalid"}
    )
    async with serving(app) as client:
        for plan, damage in (
            ("plan-sound", None),
            ("plan-corrupt", corrupt_crc),
            ("plan-next", None),
        ):
            await produce_one_batch(
                broker.bootstrap,
                topics.DELIVERIES,
                1,
                [(b"d-1", delivery_sent_value(plan), [])],
                damage=damage,
            )
        await eventually(lambda: counts(client, "plan-next"), lambda c: c["total"] == 1)
        assert (await counts(client, "plan-sound"))["total"] == 1
        assert (await counts(client, "plan-corrupt"))["total"] == 0
        [dead] = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1)
        headers = {k: v.decode() for k, v in dead.headers}
        assert headers["dlq_reason"] == "record batch failed its CRC check"
        assert headers["dlq_original_partition"] == "1"
        assert b"plan-corrupt" in dead.value  # the batch's bytes, for whoever looks into it
    dlq_after = REGISTRY.get_sample_value(
        "budskab_dlq_messages_total", {"group": "metrics", "reason": "invalid"}
    )
    assert (dlq_after or 0) - (dlq_before or 0) == 1


async def test_newer_types_and_added_fields_are_tolerated_not_dead_lettered(
    broker: Tansu, tmp_path
) -> None:
    app = create_app(
        settings_for(MetricsSettings, f"sqlite+aiosqlite:///{tmp_path}/m.db", broker.bootstrap)
    )
    newer = json.loads(delivery_sent_value("plan-v2"))
    newer["type"] = "delivery.sent.v2"  # published side by side with v1 during a migration
    extended = json.loads(delivery_sent_value("plan-extended"))
    extended["data"]["campaign"] = "Kommune forfra"  # an optional field added later
    extended["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with serving(app) as client:
        await produce(
            broker.bootstrap,
            topics.DELIVERIES,
            [(b"d", json.dumps(newer).encode(), []), (b"d", json.dumps(extended).encode(), [])],
        )
        await eventually(lambda: counts(client, "plan-extended"), lambda c: c["total"] == 1)
        assert (await counts(client, "plan-v2"))["total"] == 0  # not known here: ignored
    with pytest.raises(AssertionError):  # nothing was dead-lettered
        await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1, timeout=3)


async def test_a_database_outage_delays_events_but_dead_letters_none(broker: Tansu) -> None:
    """PostgreSQL goes away for a few seconds: the consumer waits it out and handles every
    event afterwards, in order, instead of dead-lettering what arrived meanwhile."""
    server = Postgres().start()
    try:
        app = create_app(
            settings_for(MetricsSettings, server.create_database("metrics"), broker.bootstrap)
        )
        async with serving(app) as client:
            await produce(
                broker.bootstrap,
                topics.DELIVERIES,
                [(b"d", delivery_sent_value("plan-before"), [])],
            )
            await eventually(lambda: counts(client, "plan-before"), lambda c: c["total"] == 1)
            server.stop_server()
            await produce(
                broker.bootstrap,
                topics.DELIVERIES,
                [(b"d", delivery_sent_value("plan-during"), []) for _ in range(3)],
            )
            await asyncio.sleep(3)
            server.start_server()
            await eventually(
                lambda: counts(client, "plan-during"), lambda c: c["total"] == 3, timeout=60
            )
    finally:
        server.stop()
    with pytest.raises(AssertionError):  # nothing was dead-lettered
        await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=1, timeout=3)


async def test_each_message_of_a_mixed_batch_meets_its_own_fate(
    database_url: str, broker: Tansu, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One batch holds a good event, its copy, an event handled in an earlier batch, a
    message that is not JSON, one of a newer type, one whose handler always fails, one whose
    handler fails once, and another good one: each gets its own fate, and the rest commit."""
    from services.metrics import handlers
    from shared.messaging import EventConsumer

    original, attempts = handlers.count_event, Counter[str]()

    async def failing_for_some(uow, envelope, data):  # type: ignore[no-untyped-def]
        attempts[data.plan_id] += 1
        if data.plan_id == "plan-failing" or (
            data.plan_id == "plan-flaky" and attempts["plan-flaky"] == 1
        ):
            raise RuntimeError(f"the handler cannot take {data.plan_id}")
        await original(uow, envelope, data)

    monkeypatch.setattr(handlers, "count_event", failing_for_some)
    batch_sizes: list[int] = []
    handle = EventConsumer.handle

    async def recording(self, records):  # type: ignore[no-untyped-def]
        batch_sizes.append(len(records))
        return await handle(self, records)

    monkeypatch.setattr(EventConsumer, "handle", recording)
    settings = settings_for(MetricsSettings, database_url, broker.bootstrap)
    earlier = delivery_sent_value("plan-earlier")
    async with serving(create_app(settings)) as client:  # handles `earlier` once
        await produce(broker.bootstrap, topics.DELIVERIES, [(b"d-1", earlier)])
        await eventually(lambda: counts(client, "plan-earlier"), lambda c: c["total"] == 1)

    good, failing = delivery_sent_value("plan-good"), delivery_sent_value("plan-failing")
    newer = json.loads(delivery_sent_value("plan-newer"))
    newer["type"] = "delivery.sent.v2"
    await produce(
        broker.bootstrap,
        topics.DELIVERIES,
        [
            (b"d-1", good),
            (b"d-1", good),
            (b"d-1", earlier),
            (b"d-1", b"not json"),
            (b"d-1", json.dumps(newer).encode()),
            (b"d-1", failing),
            (b"d-1", delivery_sent_value("plan-flaky")),
            (b"d-1", delivery_sent_value("plan-good")),
        ],
    )
    batch_sizes.clear()
    before = _outcomes()
    client_app = create_app(settings)
    async with serving(client_app) as client:
        await eventually(lambda: counts(client, "plan-good"), lambda c: c["total"] == 2)
        await asyncio.sleep(0.5)  # time enough for a wrong second effect to show
        assert (await counts(client, "plan-earlier"))["total"] == 1
        assert (await counts(client, "plan-flaky"))["total"] == 1
        assert (await counts(client, "plan-failing"))["total"] == 0
        assert (await counts(client, "plan-newer"))["total"] == 0
        async with runtime_of(client_app).sessions() as session:  # a replay would be handled
            inbox = runtime_of(client_app).inbox
            claimed = set(await session.scalars(select(inbox.c.event_id)))
        assert json.loads(failing)["id"] not in claimed
        assert json.loads(good)["id"] in claimed

    assert batch_sizes[0] == 8  # one batch, not eight single messages
    assert attempts["plan-failing"] == 3 and attempts["plan-flaky"] == 2
    after = _outcomes()
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "processed": 3,
        "duplicate": 2,
        "ignored": 1,
        "dead_lettered": 2,
    }
    dead = await read_topic(broker.bootstrap, dead_letter_topic("metrics"), at_least=2)
    reasons = sorted(dict(r.headers)["dlq_reason"].decode() for r in dead)
    assert len(dead) == 2
    assert reasons[0].startswith("handler failed 3 times") and "plan-failing" in reasons[0]
    assert reasons[1].startswith("invalid envelope")


def _outcomes() -> dict[str, float]:
    """budskab_consumer_messages_total of the metrics group on the deliveries topic."""
    labels = {"group": "metrics", "topic": topics.DELIVERIES}
    return {
        outcome: REGISTRY.get_sample_value(
            "budskab_consumer_messages_total", labels | {"outcome": outcome}
        )
        or 0.0
        for outcome in ("processed", "duplicate", "ignored", "dead_lettered")
    }
