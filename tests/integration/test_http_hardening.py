"""The shared HTTP plumbing (shared/http.py, shared/idempotency.py, shared/auth.py) against a
minimal service: one route, its own SQLite database, no broker. Inputs a hostile client would
send get a 4xx problem, never a 5xx, and do not grow what the service keeps.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, status
from pydantic import Field
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase

from shared.auth import CurrentPrincipal, Planner
from shared.db import create_engine
from shared.http import create_app
from shared.schemas import ApiInput
from shared.settings import ServiceSettings
from shared.tables import service_metadata
from tests.api import chunks
from tests.factories import PLANNER
from tests.helpers import SECRET, serving

pytestmark = pytest.mark.integration


class Base(DeclarativeBase):
    metadata = service_metadata()


router = APIRouter(prefix="/v1/things", tags=["things"])


class ThingCreate(ApiInput):
    name: str = Field(min_length=1, max_length=100)
    size: float = Field(ge=0)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_thing(body: ThingCreate, _: Planner) -> dict:
    return body.model_dump()


@router.get("/{thing_id}")
async def get_thing(thing_id: str, _: CurrentPrincipal) -> dict:
    return {"id": thing_id}


class ProbeSettings(ServiceSettings):
    http_port: int = 8999
    consumer_group: str = "probe"


@pytest.fixture
async def probe(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    database_url = f"sqlite+aiosqlite:///{tmp_path}/probe.db"
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()
    settings = ProbeSettings(
        database_url=database_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        jwt_secret=SECRET,
        log_json=False,
        migrate_on_start=False,
        max_body_bytes=10_000,
    )
    app = create_app(
        settings,
        name="probe",
        title="Probe",
        description="A minimal service.",
        metadata=Base.metadata,
        migrations_dir=tmp_path,
        routers=[router],
    )
    async with serving(app, raise_app_exceptions=False) as client:
        yield client


async def test_header_bytes_that_are_not_utf8_are_client_errors_not_crashes(
    probe: httpx.AsyncClient,
) -> None:
    """Every header the services read, with bytes no UTF-8 decoder accepts."""
    bad = b"\xff\xfe\xc3(\x80"
    cases = [
        {"X-Correlation-ID": bad},
        {"Authorization": b"Bearer " + bad},
        {"Authorization": b"Bearer " + bad, "Idempotency-Key": b"key-1"},
        {**PLANNER, "Idempotency-Key": bad},
        {**PLANNER, "If-Match": bad},
    ]
    for headers in cases:
        created = await probe.post("/v1/things", json={"name": "n", "size": 1}, headers=headers)
        assert created.status_code < 500, (headers, created.status_code, created.text)
        read = await probe.get("/v1/things/t1", headers=headers)
        assert read.status_code < 500, (headers, read.status_code, read.text)


async def test_a_correlation_id_that_is_not_a_plain_token_is_replaced_not_echoed(
    probe: httpx.AsyncClient,
) -> None:
    for given in [b"\xff\xfe", b"line\r\nbreak", b"a" * 300, "sj\xe6l".encode("latin-1")]:
        answer = await probe.get("/v1/things/t1", headers={**PLANNER, "X-Correlation-ID": given})
        echoed = answer.headers["X-Correlation-ID"]
        assert answer.status_code == 200 and echoed.encode() != given
        assert echoed.isascii() and 0 < len(echoed) <= 200
    kept = await probe.get("/v1/things/t1", headers={**PLANNER, "X-Correlation-ID": "req-42.a:b"})
    assert kept.headers["X-Correlation-ID"] == "req-42.a:b"


async def test_a_chunked_body_over_the_limit_with_an_idempotency_key_is_a_413_problem(
    probe: httpx.AsyncClient,
) -> None:
    """The idempotency layer reads the body before any route: the limit holds there too."""
    body = b'{"name": "n", "size": 1, "pad": "' + b"x" * 50_000 + b'"}'
    answer = await probe.post(
        "/v1/things",
        content=chunks(body),
        headers={**PLANNER, "Content-Type": "application/json", "Idempotency-Key": "k-413"},
    )
    assert answer.request.headers.get("transfer-encoding") == "chunked"
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    retried = await probe.post(
        "/v1/things", json={"name": "n", "size": 1}, headers={**PLANNER, "Idempotency-Key": "k-413"}
    )
    assert retried.status_code == 201  # the refused attempt kept no answer under the key


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
async def test_a_number_that_is_not_finite_is_a_422_problem(
    probe: httpx.AsyncClient, number: str
) -> None:
    body = '{"name": "n", "size": ' + number + "}"
    answer = await probe.post(
        "/v1/things", content=body, headers={**PLANNER, "Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "body.size"


async def test_a_body_with_thousands_of_unknown_fields_gets_a_short_422(
    probe: httpx.AsyncClient,
) -> None:
    body = {"name": "n", "size": 1, **{f"unknown_{i}": i for i in range(300)}}  # ~6 kB
    answer = await probe.post("/v1/things", json=body, headers=PLANNER)
    assert answer.status_code == 422
    problem = answer.json()
    assert len(problem["errors"]) == 20 and problem["detail"].endswith("; and 280 more")
    assert len(answer.content) < 5_000


async def test_made_up_methods_and_paths_add_no_metric_series(probe: httpx.AsyncClient) -> None:
    def series() -> int:
        return sum(1 for line in metrics.splitlines() if line.startswith("budskab_http_requests"))

    metrics = (await probe.get("/metrics")).text
    for i in range(50):
        await probe.request(f"BREW{i}", f"/v1/things/{i}")
        await probe.get(f"/no/such/path/{i}")
    metrics = (await probe.get("/metrics")).text
    before = series()
    for i in range(50, 100):
        await probe.request(f"BREW{i}", f"/v1/things/{i}")
        await probe.get(f"/no/such/path/{i}")
    metrics = (await probe.get("/metrics")).text
    assert series() == before
    assert 'method="other"' in metrics and 'route="unmatched"' in metrics


async def test_random_bytes_in_every_header_the_services_read_get_no_server_error(
    probe: httpx.AsyncClient,
) -> None:
    """A seeded fuzz: 200 random byte strings (any byte, up to 300 long) per header, on a
    read and on a create, each alone with an otherwise good request."""
    rng = random.Random(20261202)
    names = ["Authorization", "X-Correlation-ID", "Idempotency-Key", "If-Match", "Content-Type"]
    for name in names:
        for _ in range(200):
            value = bytes(rng.randrange(256) for _ in range(rng.randrange(301)))
            headers = {**PLANNER, name: value}
            created = await probe.post("/v1/things", json={"name": "n", "size": 1}, headers=headers)
            read = await probe.get("/v1/things/t1", headers=headers)
            assert created.status_code < 500 and read.status_code < 500, (name, value)
    assert (await probe.get("/healthz")).status_code == 200


async def test_a_database_error_carries_none_of_the_values_it_was_given(database_url: str) -> None:
    """A database error is logged (its repr): it must not carry the address that broke it."""
    people = Table("people", MetaData(), Column("email", String(320), primary_key=True))
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(people.metadata.create_all)
            await conn.execute(insert(people).values(email="karen.holm@silkeborg.example"))
        with pytest.raises(IntegrityError) as raised:
            async with engine.begin() as conn:
                await conn.execute(insert(people).values(email="karen.holm@silkeborg.example"))
    finally:
        await engine.dispose()
    assert "karen.holm" not in str(raised.value) and "karen.holm" not in repr(raised.value)
    assert "INSERT INTO people" in str(raised.value)  # the statement itself still shows
