"""The transactional outbox and its relay, on SQLite and PostgreSQL, against the real broker."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scripts.stack import Tansu, free_port
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from services.planning.app import create_app
from services.planning.plans.model import Plan
from services.planning.settings import PlanningSettings
from shared import topics
from shared.outbox import OutboxRelay
from tests.factories import PLANNER, create_approvable_plan
from tests.helpers import eventually, read_topic, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration


def planning_app(database_url: str, bootstrap: str):  # type: ignore[no-untyped-def]
    """Planning without its due timer: these tests count exactly the events they cause (the
    factory plan's activities, in 2016, would fall due at once)."""
    app = create_app(settings_for(PlanningSettings, database_url, bootstrap))
    runtime_of(app).workers.clear()
    return app


async def test_http_write_succeeds_while_broker_is_down_and_is_published_when_it_is_back(
    database_url: str, tmp_path
) -> None:
    port = free_port()  # nothing listens here yet
    app = planning_app(database_url, f"127.0.0.1:{port}")
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        approved = await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        assert approved.status_code == 200, approved.text

        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"] != "ok"
        # plan.approved + two activity.approved wait in the outbox, and /metrics says so
        await eventually(
            lambda: client.get("/metrics"),
            lambda r: "budskab_outbox_backlog 3.0" in r.text.splitlines(),
            timeout=15,
        )

        tansu = Tansu(port, log_path=tmp_path / "tansu.log").start()
        try:
            activities = await read_topic(
                tansu.bootstrap, topics.ACTIVITIES, at_least=2, timeout=60
            )
            plans = await read_topic(tansu.bootstrap, topics.PLANS, at_least=1)
            await eventually(lambda: runtime_of(app).relay.refresh_gauges(), lambda r: r[0] == 0)
            assert (await client.get("/readyz")).status_code == 200
        finally:
            tansu.stop()

    published = {json.loads(r.value)["id"] for r in activities + plans}
    assert len(activities) == 2 and len(plans) == 1
    titles = {json.loads(r.value)["data"]["title"] for r in activities}
    assert titles == {"Velfærdens innovationsdag", "Nyhedsbrev januar"}
    assert len(published) == 3


async def test_a_rolled_back_unit_of_work_leaves_neither_state_nor_events(
    database_url: str,
) -> None:
    app = planning_app(database_url, f"127.0.0.1:{free_port()}")
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        plan_id = made["plan"]["id"]
        with pytest.raises(RuntimeError):
            async with runtime.uow() as uow:
                plan = await uow.session.get(Plan, plan_id)
                plan.status = "approved"
                from shared.contracts.planning import PlanApproved

                uow.publish(
                    PlanApproved(
                        plan_id=plan_id,
                        title="x",
                        owner="x",
                        sender="x",
                        approved_by="x",
                        approved_at=datetime.now(UTC),
                        activity_ids=[],
                    ),
                    subject=plan_id,
                )
                raise RuntimeError("crash before commit")
        async with runtime.sessions() as session:
            assert (await session.get(Plan, plan_id)).status == "draft"
            assert await session.scalar(select(func.count()).select_from(runtime.outbox)) == 0


async def test_relay_killed_between_publish_and_mark_sent_loses_nothing(
    database_url: str, broker: Tansu, tmp_path
) -> None:
    """The first relay publishes a batch and dies before marking it sent. The restarted relay
    publishes the batch again, in order: every event arrives (twice), and downstream the
    copies have no second effect."""
    metrics_db = f"sqlite+aiosqlite:///{tmp_path}/metrics.db"
    app = planning_app(database_url, "127.0.0.1:1")
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        assert (
            await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        ).status_code == 200
        await runtime.broker.stop()  # this app's own relay is never connected (port 1)

        from shared.messaging import RelayProducer

        producer = RelayProducer(broker.bootstrap, "relay-test")
        await producer.start()
        try:

            async def die(_session, _rows):  # type: ignore[no-untyped-def]
                raise asyncio.CancelledError  # the process dies right after the broker acked

            first = OutboxRelay(runtime.outbox, runtime.sessions, producer.publish)
            first._mark_sent = die  # type: ignore[method-assign]
            with pytest.raises(asyncio.CancelledError):
                await first.publish_batch()
            assert (await first.refresh_gauges())[0] == 3  # nothing marked sent

            restarted = OutboxRelay(runtime.outbox, runtime.sessions, producer.publish)
            assert await restarted.publish_batch() == 3
            assert (await restarted.refresh_gauges())[0] == 0
        finally:
            await producer.stop()

    records = await read_topic(broker.bootstrap, topics.ACTIVITIES, at_least=4)
    ids = [json.loads(r.value)["id"] for r in records]
    assert len(ids) == 4 and len(set(ids)) == 2  # each activity event twice: at least once

    # ... and downstream, the copies have no second effect: the metrics service counts once.
    metrics = create_metrics_app(settings_for(MetricsSettings, metrics_db, broker.bootstrap))
    plan_id = made["plan"]["id"]
    async with serving(metrics) as client:
        counts = await eventually(
            lambda: client.get(f"/v1/plans/{plan_id}/counts", headers=PLANNER),
            lambda r: r.json()["total"] >= 3,
        )
        await asyncio.sleep(1.0)  # time enough for a wrongly counted copy to show
        counts = (await client.get(f"/v1/plans/{plan_id}/counts", headers=PLANNER)).json()
    assert counts["counts"] == {"activity.approved.v1": 2, "plan.approved.v1": 1}


async def test_a_publish_that_fails_marks_nothing_sent(database_url: str) -> None:
    app = planning_app(database_url, "127.0.0.1:1")
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        approved = await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        assert approved.status_code == 200

        async def lose_the_broker(messages):  # type: ignore[no-untyped-def]
            raise ConnectionError("the producer lost the broker")

        relay = OutboxRelay(runtime.outbox, runtime.sessions, lose_the_broker)
        with pytest.raises(ConnectionError):
            await relay.publish_batch()
        assert (await relay.refresh_gauges())[0] == 3  # nothing marked sent


async def test_a_round_the_broker_refuses_keeps_the_rounds_before_it_sent(
    database_url: str,
) -> None:
    """The relay publishes a round while it marks the one before and reads the next: when the
    broker refuses the second round, the first stays marked (on PostgreSQL, its transaction
    still commits), nothing after it goes out, and the retry starts at the refused round."""
    app = planning_app(database_url, "127.0.0.1:1")
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        approved = await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        assert approved.status_code == 200
        published: list[list[str]] = []

        async def refuse_the_second_round(messages):  # type: ignore[no-untyped-def]
            if len(published) == 1:
                published.append([])
                raise ConnectionError("the producer lost the broker")
            published.append([json.loads(value)["id"] for _t, _k, value, _h in messages])

        relay = OutboxRelay(runtime.outbox, runtime.sessions, refuse_the_second_round, batch_size=1)
        with pytest.raises(ConnectionError):
            await relay.publish_batch()
        assert (await relay.refresh_gauges())[0] == 2  # the first is sent, the other two not

        assert await relay.publish_batch() == 2  # the retry: the refused round, then the third
        async with runtime.sessions() as session:
            first, second, third = await session.scalars(
                select(runtime.outbox.c.event_id).order_by(runtime.outbox.c.position)
            )
    assert published == [[first], [], [second], [third]]


async def test_a_batch_refused_midway_raises_only_after_the_batches_handed_over_settle(
    broker: Tansu,
) -> None:
    """Three topics, so three record batches; aiokafka refuses the third. The producer raises,
    but only once the two batches already handed over have settled, so no late send of this
    attempt can overtake the relay's retry."""
    from aiokafka import AIOKafkaProducer

    from shared.messaging import RelayProducer, ensure_topics

    names = [f"midway.{i}" for i in range(3)]
    await ensure_topics(broker.bootstrap, names, partitions=1)
    producer = RelayProducer(broker.bootstrap, "relay-test")
    await producer.start()
    handed_over: list[asyncio.Future] = []
    real_send_batch = AIOKafkaProducer.send_batch

    async def refuse_the_third(self, batch, topic, *, partition):  # type: ignore[no-untyped-def]
        if len(handed_over) == 2:
            raise ConnectionError("the producer lost the broker")
        sent = await real_send_batch(self, batch, topic, partition=partition)
        handed_over.append(sent)
        return sent

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(AIOKafkaProducer, "send_batch", refuse_the_third)
            with pytest.raises(ConnectionError):
                await producer.publish([(name, b"k", b"v", {"ce_type": "t"}) for name in names])
        assert len(handed_over) == 2 and all(sent.done() for sent in handed_over)
        await producer.publish([(names[2], b"k", b"v", {"ce_type": "t"})])  # and it recovers
    finally:
        await producer.stop()
    records = [(await read_topic(broker.bootstrap, name, at_least=1))[0] for name in names]
    assert [(r.key, r.value, r.headers) for r in records] == [
        (b"k", b"v", (("ce_type", b"t"),))
    ] * 3


async def test_two_relays_publish_each_row_once_and_in_order(database_url: str) -> None:
    """Replicas share the outbox, but one relay publishes at a time (an advisory lock on
    PostgreSQL, one process per SQLite file): each row once, in the order it was written."""
    app = planning_app(database_url, "127.0.0.1:1")
    runtime = runtime_of(app)
    async with serving(app):
        from shared.contracts.planning import PlanApproved

        for batch in range(10):
            async with runtime.uow() as uow:
                for i in range(30):
                    uow.publish(
                        PlanApproved(
                            plan_id=f"p{batch}-{i}",
                            title="t",
                            owner="o",
                            sender="s",
                            approved_by="a",
                            approved_at=datetime.now(UTC),
                            activity_ids=[],
                        ),
                        subject=f"p{batch}-{i}",
                    )
                await uow.commit()

        seen: list[str] = []

        async def record(messages):  # type: ignore[no-untyped-def]
            for _topic, _key, value, _headers in messages:
                await asyncio.sleep(0)  # let the other relay in
                seen.append(json.loads(value)["id"])

        relays = [
            OutboxRelay(runtime.outbox, runtime.sessions, record, batch_size=25) for _ in range(2)
        ]

        async def drain(relay: OutboxRelay) -> None:
            while await relay.publish_batch():
                pass

        await asyncio.gather(*(drain(r) for r in relays))
        async with runtime.sessions() as session:
            written = list(
                await session.scalars(
                    select(runtime.outbox.c.event_id).order_by(runtime.outbox.c.position)
                )
            )
    assert len(written) == 300
    assert seen == written


async def test_sent_events_are_pruned_after_a_week_and_unsent_ones_never(database_url: str) -> None:
    from shared.runtime import prune_bookkeeping

    app = planning_app(database_url, "127.0.0.1:1")
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        await client.post(
            "/v1/plans",
            json={"title": "Tendens", "owner": "BRMJ", "sender": "Regionen"},
            headers={**PLANNER, "Idempotency-Key": "k-1"},
        )
        outbox = runtime.outbox
        async with runtime.sessions.begin() as session:  # the relay sent the activities only
            await session.execute(
                outbox.update()
                .where(outbox.c.type == "activity.approved.v1")
                .values(sent_at=datetime.now(UTC))
            )

        await prune_bookkeeping(runtime, now=datetime.now(UTC) + timedelta(days=6))
        async with runtime.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(outbox)) == 3
        await prune_bookkeeping(runtime, now=datetime.now(UTC) + timedelta(days=8))
        async with runtime.sessions() as session:
            assert list(await session.scalars(select(outbox.c.type))) == ["plan.approved.v1"]
            keys = runtime.metadata.tables["idempotency_keys"]
            assert await session.scalar(select(func.count()).select_from(keys)) == 0


async def test_the_relay_producer_keeps_sends_partitions_and_per_partition_order(
    broker: Tansu,
) -> None:
    """Rows go where aiokafka's own `send` puts the same key (so the move to record batches
    changes no key's partition), and in order per partition across several record batches."""
    from aiokafka import AIOKafkaProducer

    from shared.messaging import RelayProducer, ensure_topics

    await ensure_topics(broker.bootstrap, ["by-relay", "by-send"], partitions=3)
    messages = [
        ("by-relay", f"k{i % 50}".encode(), b"%06d" % i + b"x" * 300, {}) for i in range(3000)
    ]
    relay_producer = RelayProducer(broker.bootstrap, "relay-test")
    plain = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await relay_producer.start()
    await plain.start()
    try:
        await relay_producer.publish(messages)  # about 900 kB: several batches per partition
        for _topic, key, value, _headers in messages[:50]:
            await plain.send("by-send", value, key=key)
        await plain.flush()
    finally:
        await relay_producer.stop()
        await plain.stop()
    by_relay = await read_topic(broker.bootstrap, "by-relay", at_least=3000)
    by_send = await read_topic(broker.bootstrap, "by-send", at_least=50)
    assert {r.key: r.partition for r in by_relay} == {r.key: r.partition for r in by_send}
    for partition in range(3):
        values = [r.value for r in by_relay if r.partition == partition]
        assert values == sorted(values) and values
    assert sorted(r.value for r in by_relay) == [value for _t, _k, value, _h in messages]
