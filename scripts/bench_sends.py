"""N contacts imported from CSV, then a send to them through the whole notifications path —
the API, fan-out in pages, the sender's claims, pooled transport, the ledger, the outbox to
the broker — against raw aiokafka produce+consume of the same count on the same broker,
measured in one run.

The service runs as its own process (its peak RSS is read from /proc), once per database
and transport: `null` sends nothing (our path alone), `smtp` goes to a local SMTP sink.

    python -m scripts.bench_sends                    # 100,000 contacts, SQLite, both transports
    python -m scripts.bench_sends -n 1000000 --databases postgresql --transports null
    python -m scripts.bench_sends --projection       # also the metrics service counting them

With --projection the send is an approved newsletter activity (its deliveries are reported on
the broker, one delivery.sent.v1 each) and the metrics service runs beside it: the run also
prints how far its count of them lags behind, in seconds (at peak and after the last) — for
each moment, how long ago the notifications service had sent what metrics has counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from scripts.bench import raw_path
from scripts.stack import Postgres, ServiceProcess, SmtpSink, Tansu, service_env
from shared import topics
from shared.auth import issue_token
from shared.contracts import new_envelope
from shared.contracts.planning import ActivityApproved, AudienceRef, MessageRef

SECRET = "bench-secret-that-is-long-enough-for-hs256"
# batches in hand at once (SEND_CONCURRENCY; the service's default is 1, which re-sends less
# after a crash). At 100,000 on SQLite, null transport, 2026-12-07: 4,338/s with 3, 3,942/s
# with 2 (one run each); 1 was measured only before the last small changes (3,231/s)
CONCURRENCY = 3
AUDIENCE = "tendens-readers"


async def import_contacts(client: httpx.AsyncClient, n: int) -> float:
    """N contacts through the CSV import (files of 100,000 rows); the seconds it took."""
    started = time.perf_counter()
    for first in range(0, n, 100_000):
        rows = [
            f"Reader {i};reader{i:08d}@example.org;ja"
            for i in range(first, min(n, first + 100_000))
        ]
        response = await client.post(
            "/v1/contact-imports",
            params={"audience_id": AUDIENCE},
            content="\n".join(["name;email;consent", *rows]).encode(),
            headers={"Content-Type": "text/csv"},
        )
        response.raise_for_status()
        job = response.json()
        while job["status"] != "completed":
            await asyncio.sleep(0.5)
            job = (await client.get(f"/v1/contact-imports/{job['id']}")).json()
        assert job["imported"] == len(rows), job
    return time.perf_counter() - started


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


PLAN = "bench-plan"


def newsletter_activity() -> bytes:
    """An approved newsletter to the imported audience, due now, as planning publishes it."""
    data = ActivityApproved(
        activity_id=f"tendens-{uuid.uuid4().hex[:6]}",
        plan_id=PLAN,
        title="Tendens",
        kind="communication",
        channel="newsletter",
        starts_at=datetime.now(UTC),
        audience=AudienceRef(id=AUDIENCE, name="Tendens' læsere"),
        message=MessageRef(id="m", subject="Tendens", body="Nyt fra regionen."),
    )
    envelope = new_envelope(data, source="/bench", subject=data.activity_id, correlation_id="b")
    return envelope.model_dump_json().encode()


def metrics_service(database_url: str, bootstrap: str, workdir: Path) -> ServiceProcess:
    env = service_env("metrics", database_url=database_url, bootstrap=bootstrap, jwt_secret=SECRET)
    return ServiceProcess(
        "metrics", env | {"METRICS_LOG_LEVEL": "WARNING"}, workdir / "metrics.log"
    ).start()


def lag_seconds(sent: list[tuple[float, int]], counted: list[tuple[float, int]]) -> list[float]:
    """For each moment metrics was asked, how long ago notifications had sent as many as
    metrics had counted by then."""
    lags = []
    for at, count in counted:
        reached = next((t for t, n in sent if n >= count), at)
        lags.append(max(0.0, at - reached))
    return lags


async def one_send(
    database_url: str,
    bootstrap: str,
    transport: str,
    n: int,
    workdir: Path,
    metrics: ServiceProcess | None = None,
) -> dict[str, Any]:
    sink = SmtpSink().start() if transport == "smtp" else None
    env = service_env(
        "notifications", database_url=database_url, bootstrap=bootstrap, jwt_secret=SECRET
    ) | {
        "NOTIFICATIONS_MAIL_TRANSPORT": transport,
        "NOTIFICATIONS_SMTP_PORT": str(sink.port if sink else 1),
        "NOTIFICATIONS_LOG_LEVEL": "WARNING",
        "NOTIFICATIONS_SEND_CONCURRENCY": str(CONCURRENCY),
    }
    service = ServiceProcess("notifications", env, workdir / f"{uuid.uuid4().hex[:6]}.log").start()
    headers = {
        "Authorization": f"Bearer {issue_token(SECRET, subject='bench', roles=['communicator'])}"
    }
    try:
        await asyncio.to_thread(service.wait_ready)
        assert service.process is not None
        pid = service.process.pid
        async with httpx.AsyncClient(base_url=service.url, headers=headers, timeout=60) as client:
            import_seconds = await import_contacts(client, n)
            started = time.perf_counter()
            send_id = await start_send(client, bootstrap, by_activity=metrics is not None)
            rss_by_quarter: list[float] = []
            sent: list[tuple[float, int]] = []
            counted: list[tuple[float, int]] = []
            progress_ms: list[float] = []  # what watching the send costs, once a second
            while True:
                asked = time.perf_counter()
                send = (await client.get(f"/v1/sends/{send_id}")).json()
                progress_ms.append(1000 * (time.perf_counter() - asked))
                sent.append((time.perf_counter(), send["counts"]["sent"]))
                done = 100 * sent[-1][1] / n
                while len(rss_by_quarter) < int(done // 25):
                    rss_by_quarter.append(rss_mb(pid))
                if metrics is not None:
                    counted.append((time.perf_counter(), await count_of(client, metrics)))
                if send["status"] == "completed":
                    break
                print(f"  {transport}: {done:5.1f} % sent, RSS {rss_mb(pid):.0f} MB", flush=True)
                await asyncio.sleep(1)
            elapsed = time.perf_counter() - started
            while metrics is not None and counted[-1][1] < send["counts"]["sent"]:
                await asyncio.sleep(0.25)
                counted.append((time.perf_counter(), await count_of(client, metrics)))
        lags = lag_seconds(sent, counted) if metrics is not None else [0.0]
        return {
            "import_seconds": import_seconds,
            "seconds": elapsed,
            "rate": n / elapsed,
            "peak_rss": rss_mb(pid, "VmHWM"),
            "rss_by_quarter": rss_by_quarter,
            "sent": send["counts"]["sent"],
            "progress_p50_ms": statistics.median(progress_ms),
            "progress_max_ms": max(progress_ms),
            "peak_lag": max(lags),
            "median_lag": statistics.median(lags),
            "p95_lag": statistics.quantiles(lags, n=20)[-1] if len(lags) > 1 else lags[0],
            "peak_at": counted[lags.index(max(lags))][1] / n if metrics else 0.0,
            "last_lag": lags[-1],
        }
    finally:
        service.stop()
        if sink:
            sink.stop()


async def start_send(client: httpx.AsyncClient, bootstrap: str, by_activity: bool) -> str:
    """A send to the audience: through the API, or as an approved activity on the broker
    (whose deliveries are then reported one event each); its id."""
    if not by_activity:
        response = await client.post(
            "/v1/sends",
            json={"audience_id": AUDIENCE, "subject": "Tendens", "body": "Nyt fra regionen."},
        )
        response.raise_for_status()
        return response.json()["id"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topics.ACTIVITIES, newsletter_activity(), key=b"tendens")
    finally:
        await producer.stop()
    while True:
        sends = (await client.get("/v1/sends", params={"plan_id": PLAN})).json()
        if sends["items"]:
            return sends["items"][0]["id"]
        await asyncio.sleep(0.2)


async def count_of(client: httpx.AsyncClient, metrics: ServiceProcess) -> int:
    response = await client.get(f"{metrics.url}/v1/plans/{PLAN}/counts")
    return response.json()["counts"].get("delivery.sent.v1", 0)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--contacts", type=int, default=100_000)
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--transports", nargs="+", default=["null", "smtp"], choices=["null", "smtp"]
    )
    parser.add_argument(
        "--projection",
        action="store_true",
        help="send an approved activity and run the metrics service: its projection lag",
    )
    args = parser.parse_args()
    tansu = Tansu().start()
    postgres = Postgres().start() if "postgresql" in args.databases else None
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            for database in args.databases:
                for transport in args.transports:
                    run = uuid.uuid4().hex[:8]
                    url = (
                        postgres.create_database(f"sends_{run}")
                        if database == "postgresql" and postgres
                        else f"sqlite+aiosqlite:///{workdir}/sends-{run}.db"
                    )
                    metrics = None
                    if args.projection:
                        metrics_url = (
                            postgres.create_database(f"metrics_{run}")
                            if database == "postgresql" and postgres
                            else f"sqlite+aiosqlite:///{workdir}/metrics-{run}.db"
                        )
                        metrics = metrics_service(metrics_url, tansu.bootstrap, workdir)
                        await asyncio.to_thread(metrics.wait_ready)
                    try:
                        ours = await one_send(
                            url, tansu.bootstrap, transport, args.contacts, workdir, metrics
                        )
                    finally:
                        if metrics:
                            metrics.stop()
                    raw = await raw_path(tansu.bootstrap, args.contacts)
                    rows.append((database, transport, ours, raw))
                    print(
                        f"{database} {transport}: {ours['rate']:.0f} deliveries/s, raw {raw:.0f}/s",
                        flush=True,
                    )
    finally:
        if postgres:
            postgres.stop()
        tansu.stop()
    print(f"\nImporting {args.contacts:,} contacts from CSV:")
    for database, transport, ours, _ in rows:
        rate = args.contacts / ours["import_seconds"]
        print(f"  {database:10} {transport:9} {ours['import_seconds']:6.1f} s {rate:8.0f} rows/s")
    print(
        f"\nA send to {args.contacts:,} contacts, whole path (SEND_CONCURRENCY={CONCURRENCY}), "
        "vs raw aiokafka in the same run:"
    )
    print(
        f"  {'database':10} {'transport':9} {'seconds':>8} {'deliv./s':>9} {'raw/s':>8} "
        f"{'ours/raw':>8} {'peak RSS':>9}  RSS at 25/50/75/100 %   GET /v1/sends/{{id}} p50/max"
    )
    for database, transport, ours, raw in rows:
        quarters = " ".join(f"{mb:.0f}" for mb in ours["rss_by_quarter"])
        print(
            f"  {database:10} {transport:9} {ours['seconds']:8.1f} {ours['rate']:9.0f} {raw:8.0f} "
            f"{ours['rate'] / raw:8.3f} {ours['peak_rss']:7.0f}MB  {quarters} MB"
            f"   {ours['progress_p50_ms']:.0f}/{ours['progress_max_ms']:.0f} ms"
        )
    if args.projection:
        print("\nThe metrics service counting the delivery events (projection lag, seconds):")
        for database, transport, ours, _ in rows:
            print(
                f"  {database:10} {transport:9} median {ours['median_lag']:6.1f}  "
                f"p95 {ours['p95_lag']:6.1f}  at peak {ours['peak_lag']:6.1f} "
                f"(when {100 * ours['peak_at']:.0f} % was counted)  "
                f"after the last {ours['last_lag']:6.1f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
