"""`make bench-registration`: a registration rush against the running events service, beside
a bare endpoint on the same database, in one run.

For each database (SQLite, PostgreSQL):
  ours — the events service (uvicorn, its own process, on a Tansu broker) with one
         published event of SEATS seats; ATTEMPTS registrations, each a different person,
         from CLIENTS concurrent clients over HTTP;
  bare — a FastAPI endpoint in its own process that inserts one row per request into a
         database of the same kind, sent the same requests the same way.
Printed: confirmed, waitlisted, overbooked (confirmed beyond the seats, counted in the
database afterwards: must be 0), p50/p99 latency, registrations per second and per minute,
and ours / bare. The rate limit per client is lifted for the run (all clients are one
address here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx

from scripts.bench import percentile
from scripts.stack import Postgres, Tansu, free_port
from shared.auth import issue_token
from shared.settings import KEEP_ALIVE_SECONDS

SECRET = "bench-secret-that-is-long-enough-for-hs256"
EVENT = {
    "title": "Beskæftigelseskonferencen 2016",
    "format": "conference",
    "starts_at": "2030-05-20T07:00:00+00:00",
    "capacity": 0,  # set per run
    "venue": "Aarhus Kongreshus",
}


@asynccontextmanager
async def server(mode: str, database_url: str, bootstrap: str) -> AsyncIterator[str]:
    """This script's `serve` mode in its own process; yields its base URL once it answers."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.bench_registration",
        "serve",
        mode,
        database_url,
        str(port),
        env={**os.environ, "KAFKA_BOOTSTRAP": bootstrap},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.returncode is not None:
                    raise RuntimeError(f"the {mode} server exited with {process.returncode}")
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError(f"the {mode} server did not answer")
        yield base
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def rush(
    base: str, path: str, attempts: int, clients: int
) -> tuple[list, list[float], float]:
    """Send `attempts` registrations from `clients` concurrent clients; the answers, each
    one's latency, and the seconds it all took."""
    answers: list = [None] * attempts
    latencies: list[float] = [0.0] * attempts
    next_index = iter(range(attempts))
    run = uuid.uuid4().hex[:6]
    # each client its own connection, as each person has their own browser: one pool of 200
    # connections spent most of this process's CPU scanning itself (httpcore checks every
    # connection of a pool for each request), and the bench measured its own client
    one_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def one_client(client: httpx.AsyncClient) -> None:
        for i in next_index:
            person = {
                "name": f"Deltager {i}",
                "email": f"deltager-{run}-{i}@jobcenter.example",
                "consent": True,
            }
            started = time.perf_counter()
            try:
                response = await client.post(path, json=person)
            except httpx.TransportError as exc:  # counted, and the run goes on
                answers[i] = type(exc).__name__
            else:
                answers[i] = response.status_code
            latencies[i] = time.perf_counter() - started

    async with AsyncExitStack() as stack:
        made: list[httpx.AsyncClient] = []
        for _ in range(clients):  # made before the clock starts: each builds its TLS context
            made.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=base, limits=one_connection, timeout=120)
                )
            )
        started = time.perf_counter()
        await asyncio.gather(*(one_client(client) for client in made))
        elapsed = time.perf_counter() - started
    return answers, latencies, elapsed


async def run_database(database_url: str, bare_url: str, bootstrap: str, args) -> dict:  # type: ignore[no-untyped-def]
    manager = {
        "Authorization": f"Bearer {issue_token(SECRET, subject='bench', roles=['event_manager'])}"
    }
    async with server("events", database_url, bootstrap) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            created = await client.post(
                "/v1/events", json={**EVENT, "capacity": args.seats}, headers=manager
            )
            created.raise_for_status()
            event_id = created.json()["id"]
            (
                await client.post(f"/v1/events/{event_id}/publish", headers=manager)
            ).raise_for_status()
        answers, latencies, elapsed = await rush(
            base, f"/v1/events/{event_id}/registrations", args.attempts, args.clients
        )
        async with httpx.AsyncClient(base_url=base) as client:
            seats = (await client.get(f"/v1/events/{event_id}", headers=manager)).json()["seats"]
    async with server("bare", bare_url, bootstrap) as base:
        _bare_answers, bare_latencies, bare_elapsed = await rush(
            base, "/rows", args.attempts, args.clients
        )
    return {
        "confirmed": seats["confirmed"],
        "waitlisted": seats["waiting"],
        "refused": sum(1 for code in answers if code != 202),
        "refused_as": dict(Counter(str(code) for code in answers if code != 202)),
        "overbooked": max(0, seats["confirmed"] - args.seats),
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "rate": args.attempts / elapsed,
        "bare_rate": args.attempts / bare_elapsed,
        "bare_p50": statistics.median(bare_latencies) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--attempts", type=int, default=20_000)
    parser.add_argument("--seats", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    tansu = Tansu().start()
    postgres = Postgres().start() if "postgresql" in args.databases else None
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for database in args.databases:
                run = uuid.uuid4().hex[:8]
                if database == "sqlite":
                    urls = (
                        f"sqlite+aiosqlite:///{tmp}/events-{run}.db",
                        f"sqlite+aiosqlite:///{tmp}/bare-{run}.db",
                    )
                else:
                    assert postgres is not None
                    urls = (
                        postgres.create_database(f"events_{run}"),
                        postgres.create_database(f"bare_{run}"),
                    )
                results[database] = r = await run_database(*urls, tansu.bootstrap, args)
                print(f"{database}: {r}", flush=True)
    finally:
        if postgres:
            postgres.stop()
        tansu.stop()

    print(
        f"\nRegistration rush: {args.attempts} attempts for {args.seats} seats "
        f"from {args.clients} concurrent clients over HTTP"
    )
    print(
        f"  {'database':10} {'confirmed':>9} {'waitlisted':>10} {'refused':>7} {'overbooked':>10} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'per s':>7} {'per min':>8} {'bare/s':>7} {'ours/bare':>9}"
    )
    for database, r in results.items():
        print(
            f"  {database:10} {r['confirmed']:9} {r['waitlisted']:10} {r['refused']:7} "
            f"{r['overbooked']:10} "
            f"{r['p50']:8.1f} {r['p99']:8.1f} {r['rate']:7.0f} {r['rate'] * 60:8.0f} "
            f"{r['bare_rate']:7.0f} {r['rate'] / r['bare_rate']:9.2f}"
        )


# --- the two servers, each run in its own process -------------------------------------------


def serve(mode: str, database_url: str, port: int) -> None:
    import uvicorn

    app = events_app(database_url) if mode == "events" else bare_app(database_url)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # as the services keep theirs
    )


def events_app(database_url: str):  # type: ignore[no-untyped-def]
    from services.events.app import create_app
    from services.events.settings import EventsSettings

    return create_app(
        EventsSettings(
            database_url=database_url,
            kafka_bootstrap_servers=os.environ["KAFKA_BOOTSTRAP"],
            jwt_secret=SECRET,
            log_level="WARNING",
            registration_rate_limit="1000000/minute",
        )
    )


def bare_app(database_url: str):  # type: ignore[no-untyped-def]
    """One POST that inserts one row: the floor of what a registration endpoint costs on this
    stack (FastAPI, pydantic, SQLAlchemy, the same engine settings)."""
    from contextlib import asynccontextmanager as lifespan_of

    from fastapi import FastAPI
    from pydantic import BaseModel
    from sqlalchemy import Column, MetaData, String, Table, insert

    from shared.db import create_engine, create_sessions

    metadata = MetaData()
    rows = Table(
        "rows",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("name", String(200)),
        Column("email", String(320)),
    )
    engine = create_engine(database_url)
    sessions = create_sessions(engine)

    @lifespan_of
    async def lifespan(_app):  # type: ignore[no-untyped-def]
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    class Person(BaseModel):
        name: str
        email: str
        consent: bool

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/rows", status_code=201)
    async def add(person: Person) -> dict:
        async with sessions.begin() as session:
            await session.execute(
                insert(rows).values(id=str(uuid.uuid4()), name=person.name, email=person.email)
            )
        return {"status": "inserted"}

    return app


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        asyncio.run(main())
