"""N contacts imported from CSV, then a send to them through the whole notifications path —
the API, fan-out in pages, the sender's claims, pooled transport, the ledger, the outbox to
the broker — against raw aiokafka produce+consume of the same count on the same broker,
measured in one run.

The service runs as its own process (its peak RSS is read from /proc), once per database
and transport: `null` sends nothing (our path alone), `smtp` goes to a local SMTP sink.

    python -m scripts.bench_sends                    # 100,000 contacts, SQLite, both transports
    python -m scripts.bench_sends -n 1000000 --databases postgresql --transports null
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from scripts.bench import raw_path
from scripts.stack import Postgres, ServiceProcess, SmtpSink, Tansu, service_env
from shared.auth import issue_token

SECRET = "bench-secret-that-is-long-enough-for-hs256"
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


async def one_send(
    database_url: str, bootstrap: str, transport: str, n: int, workdir: Path
) -> dict[str, float | list[float]]:
    sink = SmtpSink().start() if transport == "smtp" else None
    env = service_env(
        "notifications", database_url=database_url, bootstrap=bootstrap, jwt_secret=SECRET
    ) | {
        "NOTIFICATIONS_MAIL_TRANSPORT": transport,
        "NOTIFICATIONS_SMTP_PORT": str(sink.port if sink else 1),
        "NOTIFICATIONS_LOG_LEVEL": "WARNING",
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
            response = await client.post(
                "/v1/sends",
                json={"audience_id": AUDIENCE, "subject": "Tendens", "body": "Nyt fra regionen."},
            )
            response.raise_for_status()
            send_id = response.json()["id"]
            rss_by_quarter: list[float] = []
            while True:
                send = (await client.get(f"/v1/sends/{send_id}")).json()
                done = send["percent_done"] if send["fanned_out"] else 0.0
                while len(rss_by_quarter) < int(done // 25):
                    rss_by_quarter.append(rss_mb(pid))
                if send["status"] == "completed":
                    break
                print(f"  {transport}: {done:5.1f} % done, RSS {rss_mb(pid):.0f} MB", flush=True)
                await asyncio.sleep(2)
            elapsed = time.perf_counter() - started
        return {
            "import_seconds": import_seconds,
            "seconds": elapsed,
            "rate": n / elapsed,
            "peak_rss": rss_mb(pid, "VmHWM"),
            "rss_by_quarter": rss_by_quarter,
            "sent": send["counts"]["sent"],
        }
    finally:
        service.stop()
        if sink:
            sink.stop()


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
                    ours = await one_send(url, tansu.bootstrap, transport, args.contacts, workdir)
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
    print(f"\nA send to {args.contacts:,} contacts, whole path, vs raw aiokafka in the same run:")
    print(
        f"  {'database':10} {'transport':9} {'seconds':>8} {'deliv./s':>9} {'raw/s':>8} "
        f"{'ours/raw':>8} {'peak RSS':>9}  RSS at 25/50/75/100 %"
    )
    for database, transport, ours, raw in rows:
        quarters = " ".join(f"{mb:.0f}" for mb in ours["rss_by_quarter"])
        print(
            f"  {database:10} {transport:9} {ours['seconds']:8.1f} {ours['rate']:9.0f} {raw:8.0f} "
            f"{ours['rate'] / raw:8.3f} {ours['peak_rss']:7.0f}MB  {quarters} MB"
        )


if __name__ == "__main__":
    asyncio.run(main())
