"""Prometheus gauges mirrored from the metrics database every few seconds."""

from __future__ import annotations

import asyncio
from collections import Counter

from prometheus_client import Gauge
from sqlalchemy import select

from services.metrics.domain import GOAL_STATES, goal_state
from services.metrics.kpis import goals_with_latest_values
from services.metrics.settings import MetricsSettings
from services.metrics.tables import PlanCount
from shared.metrics import PLAN_EVENTS
from shared.runtime import Runtime

KPI_GOALS = Gauge(
    "budskab_kpi_goals",
    "Goals of approved plans by state: latest value attained, below target, or unmeasured.",
    ["state"],
)


async def refresh_gauges(runtime: Runtime[MetricsSettings]) -> None:
    """Mirror the committed counters and the goals' states into the gauges."""
    while True:
        async with runtime.sessions() as session:
            for row in await session.scalars(select(PlanCount)):
                PLAN_EVENTS.labels(row.plan_id, row.event_type).set(row.count)
            states = Counter(
                goal_state(None if measurement is None else measurement.value, goal.target)
                for goal, measurement in await session.execute(goals_with_latest_values())
            )
        for state in GOAL_STATES:
            KPI_GOALS.labels(state).set(states[state])
        await asyncio.sleep(runtime.settings.gauge_refresh_seconds)
