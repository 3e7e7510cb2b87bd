"""Small helpers the tests share: running an app in-process or the four services as
processes, reading topics, waiting."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from scripts.stack import (
    LOCAL_SESSION_TIMEOUT_MS,
    SERVICES,
    ServiceProcess,
    running,
    service_env,
)
from shared.auth import issue_token
from shared.http import server_config
from shared.runtime import Runtime

SECRET = "test-secret-that-is-long-enough-for-hs256"
T = TypeVar("T")


def token(*roles: str, subject: str = "tester") -> str:
    return issue_token(SECRET, subject=subject, roles=list(roles))


def auth(*roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles)}"}


def settings_for(settings_cls, database_url: str, bootstrap: str, **extra):  # type: ignore[no-untyped-def]
    return settings_cls(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        jwt_secret=SECRET,
        log_json=False,
        outbox_poll_interval_seconds=0.05,
        consumer_session_timeout_ms=LOCAL_SESSION_TIMEOUT_MS,
        **extra,
    )


@asynccontextmanager
async def serving(
    app: FastAPI, *, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (migrations, broker, relay, consumers) and talk HTTP to it."""
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):  # via the middlewares
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@asynccontextmanager
async def listening(app: FastAPI, *, lifespan: bool = True) -> AsyncIterator[str]:
    """Serve the app over real HTTP on a free port of 127.0.0.1 (uvicorn, in this event loop,
    lifespan included unless the app runs already, in `serving`); yields its base URL. A
    test's own app (no service runtime: a receiver, a bare endpoint) is served as it is."""
    options: dict[str, Any] = dict(
        host="127.0.0.1", port=0, log_level="warning", lifespan="on" if lifespan else "off"
    )
    is_service = hasattr(app.state, "runtime")
    config = server_config(app, **options) if is_service else uvicorn.Config(app, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # it failed to start: say why
            await asyncio.sleep(0.05)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task


def path_of(url: str) -> str:
    """A link's path and query, to follow it on a test's own server."""
    return "/" + url.split("/", 3)[3]


@contextmanager
def four_services(
    url_of: Callable[[str], str],
    bootstrap: str,
    smtp_port: int,
    logs: Path,
    extra_env: dict[str, str] | None = None,
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services as processes (database URL by `url_of(name)`), each ready; stopped
    however the block ends."""
    processes = {
        name: ServiceProcess(
            name,
            service_env(
                name,
                database_url=url_of(name),
                bootstrap=bootstrap,
                jwt_secret=SECRET,
                smtp_port=smtp_port,
            )
            | (extra_env or {}),
            logs / f"{name}.log",
        )
        for name in SERVICES
    }
    with running(*processes.values()):
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready()
        yield processes


def runtime_of(app: FastAPI) -> Runtime:
    return app.state.runtime


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll `probe` until `until(value)` holds; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if until(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {timeout}s; last value: {value!r}")
        await asyncio.sleep(0.1)


async def read_topic(
    bootstrap: str, topic: str, *, at_least: int, timeout: float = 30.0
) -> list[ConsumerRecord]:
    """Every record on `topic` from the start (no consumer group), waiting for `at_least`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        deadline = time.monotonic() + timeout
        partitions: set[int] = set()
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()  # the topic may be new
                await asyncio.sleep(0.1)
        assignment = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(assignment)
        await consumer.seek_to_beginning(*assignment)
        while len(records) < at_least and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(messages)
        # a short grace period shows copies that should not be there
        batch = await consumer.getmany(timeout_ms=300)
        for messages in batch.values():
            records.extend(messages)
    finally:
        await consumer.stop()
    if len(records) < at_least:
        raise AssertionError(f"{topic}: {len(records)} records, expected at least {at_least}")
    return records


async def produce(
    bootstrap: str, topic: str, messages: list[tuple], max_request_size: int = 1_048_576
) -> None:
    """Publish raw (key, value) or (key, value, headers) tuples, as a foreign producer would."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, max_request_size=max_request_size
    )
    await producer.start()
    try:
        for key, value, *headers in messages:
            await producer.send_and_wait(
                topic, value, key=key, headers=headers[0] if headers else None
            )
    finally:
        await producer.stop()


class RawHeaderKey(str):
    """A header key written as these bytes, UTF-8 or not, as a foreign producer may: aiokafka's
    Python batch builder writes a key as its `.encode()`."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        key = super().__new__(cls, raw.decode("latin-1"))
        key.raw = raw
        return key

    def encode(self, *_args: object, **_kwargs: object) -> bytes:
        return self.raw


def corrupt_crc(batch: bytearray) -> bytearray:
    """The record batch with its CRC (bytes 17-20 of a v2 batch) no longer matching."""
    batch[17] ^= 0xFF
    return batch


async def produce_one_batch(
    bootstrap: str,
    topic: str,
    partition: int,
    messages: list[tuple],
    *,
    damage: Callable[[bytearray], bytearray] | None = None,
) -> None:
    """Publish (key, value, headers) tuples as one record batch, header keys as given;
    `damage` changes the batch's bytes before they are sent (the broker may not check)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        batch = producer.create_batch()
        batch._builder = _DefaultRecordBatchBuilderPy(  # the C builder only takes UTF-8 keys
            magic=2,
            compression_type=0,
            is_transactional=0,
            producer_id=-1,
            producer_epoch=-1,
            base_sequence=0,
            batch_size=1_000_000,
        )
        for key, value, headers in messages:
            batch.append(timestamp=None, key=key, value=value, headers=headers)
        batch.close()
        if damage is not None:
            batch._buffer = damage(bytearray(batch._build()))
        await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


@asynccontextmanager
async def healthz_watched(url: str) -> AsyncIterator[list[float]]:
    """Seconds each `/healthz` took while the block ran (each answered 200: checked here, as
    an assertion inside the asking thread would end only that thread)."""
    waits: list[float] = []
    statuses: list[int | str] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    statuses.append(client.get(f"{url}/healthz").status_code)
                except httpx.HTTPError as exc:  # no answer within 10 s
                    statuses.append(repr(exc))
                waits.append(time.perf_counter() - started)
                time.sleep(0.01)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        yield waits
    finally:
        stop.set()
        await asyncio.to_thread(asker.join)
    assert set(statuses) == {200}, statuses
