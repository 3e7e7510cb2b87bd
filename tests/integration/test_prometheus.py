"""A real Prometheus scrapes the running stack with the shipped configuration.

The four services run as processes on the real broker; the `prometheus` binary (Debian's
package, from `make tools`) runs deploy/prometheus/prometheus.yml and its alert rules, only
with the targets pointed at the test's ports and the intervals shortened. A scripted flow
then moves a business metric, the alert rules evaluate, and a service that stops makes its
alert pending. Every metric a Grafana panel or an alert rule names is exposed by a running
service.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scripts.stack import (
    PROMETHEUS_DIR,
    ROOT,
    SERVICES,
    Prometheus,
    SmtpSink,
    Tansu,
    prometheus_config,
    running,
)
from tests.factories import create_approvable_plan
from tests.helpers import auth, eventually, four_services

pytestmark = pytest.mark.integration

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
METRIC = re.compile(r"\bbudskab_[a-z0-9_]+")
SCRAPE_TOKEN = "the-token-prometheus-scrapes-the-services-with"
SCRAPED = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


@pytest.fixture
def stack(broker: Tansu, smtp_sink: SmtpSink, tmp_path: Path) -> Iterator[dict]:
    with four_services(
        lambda name: f"sqlite+aiosqlite:///{tmp_path}/{name}.db",
        broker.bootstrap,
        smtp_sink.port,
        tmp_path,
        {
            "METRICS_KPI_INTERVAL_SECONDS": "0.5",
            "METRICS_GAUGE_REFRESH_SECONDS": "0.5",
            **{f"{service.upper()}_METRICS_TOKEN": SCRAPE_TOKEN for service in SERVICES},
        },
    ) as processes:
        yield processes


@pytest.fixture
def prometheus(stack: dict, tmp_path: Path) -> Iterator[str]:
    """The shipped configuration, its targets moved to the test's ports; scraped and
    evaluated every second."""
    assert shutil.which("prometheus"), "prometheus is not installed: run `make tools`"
    token_file = tmp_path / "metrics_token"  # where compose mounts its secret
    token_file.write_text(SCRAPE_TOKEN)
    ports = {name: process.port for name, process in stack.items()}
    server = Prometheus(prometheus_config(ports, token_file, interval="1s"), tmp_path / "prom")
    with running(server):
        yield server.start().url


async def test_prometheus_scrapes_every_service_and_sees_the_business_and_the_alerts(
    stack: dict, prometheus: str
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:

        async def api(path: str, **params: str):  # type: ignore[no-untyped-def]
            try:
                response = await client.get(f"{prometheus}/api/v1/{path}", params=params)
            except httpx.TransportError:
                return None  # not listening yet
            if response.status_code == 503:
                return None  # listening, but its storage is not ready yet
            return response.json()["data"]

        async def value(query: str) -> float | None:
            data = await api("query", query=query)
            return float(data["result"][0]["value"][1]) if data and data["result"] else None

        targets = await eventually(
            lambda: api("targets"),
            lambda t: (
                t is not None
                and len(t["activeTargets"]) == 4
                and all(x["health"] == "up" for x in t["activeTargets"])
            ),
        )
        assert {t["labels"]["service"] for t in targets["activeTargets"]} == set(SERVICES)

        # every metric a dashboard panel or an alert rule names is on a running service
        exposed: set[str] = set()
        for process in stack.values():
            assert (await client.get(f"{process.url}/metrics")).status_code == 401
            text = (await client.get(f"{process.url}/metrics", headers=SCRAPED)).text
            for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
                exposed |= {name, f"{name}_total"} if kind == "counter" else {name}
                if kind == "histogram":
                    exposed |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        used = set(METRIC.findall((PROMETHEUS_DIR / "alerts.yml").read_text()))
        for dashboard in DASHBOARDS:
            used |= set(METRIC.findall(json.dumps(json.load(dashboard.open()))))
        assert used - exposed == set(), "named by a panel or rule but exposed by no service"

        # a scripted flow: a plan approved, its newsletter sent to two consenting contacts
        planning, notifications = stack["planning"].url, stack["notifications"].url
        made = await create_approvable_plan(client, planning)
        plan_id = made["plan"]["id"]
        for i in range(2):
            response = await client.post(
                f"{notifications}/v1/contacts",
                json={
                    "email": f"medarbejder{i}@aarhus.example",
                    "name": f"Medarbejder {i}",
                    "email_consent": True,
                    "audience_ids": [made["audience"]["id"]],
                },
                headers=auth("communicator"),
            )
            assert response.status_code == 201, response.text
        await client.post(
            f"{planning}/v1/plans/{plan_id}/goals",
            json={"description": "Nået", "metric": "deliveries_sent", "target": 2, "unit": "mails"},
            headers=auth("planner"),
        )
        approved = await client.post(
            f"{planning}/v1/plans/{plan_id}/approve", headers=auth("planner")
        )
        assert approved.status_code == 200, approved.text

        sent = 'sum(budskab_deliveries_total{status="sent"})'
        assert await eventually(lambda: value(sent), lambda v: v == 2, timeout=60) == 2
        attained = 'max(budskab_kpi_goals{state="attained"})'
        assert await eventually(lambda: value(attained), lambda v: v == 1, timeout=60) == 1
        rules = await api("rules")
        evaluated = [r for group in rules["groups"] for r in group["rules"]]
        assert evaluated and all(r["health"] == "ok" for r in evaluated), evaluated

        # the events service stops: its target goes down and the alert on it is pending
        stack["events"].stop()
        down = 'up{job=~"planning|events|notifications|metrics"} == 0'
        await eventually(lambda: api("query", query=down), lambda d: len(d["result"]) == 1)
        alerts = await eventually(
            lambda: api("alerts"),
            lambda a: any(x["labels"]["alertname"] == "BudskabServiceDown" for x in a["alerts"]),
        )
        [alert] = [a for a in alerts["alerts"] if a["labels"]["alertname"] == "BudskabServiceDown"]
        assert alert["labels"]["job"] == "events" and alert["state"] == "pending"  # for: 2m
