"""Fixtures the integration modules share (the suite-wide ones, broker, postgres,
database_url..., are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from scripts.stack import Tansu
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from tests.api import backend_url, serving_over_http, sqlite_url
from tests.helpers import serving, settings_for
from tests.planning_world import World, build_world
from tests.services import Metrics, planning_app

# --- planning: a fresh service without its due timer (tests.services.planning_app) ----------


@pytest.fixture
async def planning(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """On SQLite, for tests where storage is not the point."""
    async with serving(planning_app(sqlite_url(tmp_path))) as client:
        yield client


@pytest.fixture
async def planning_db(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """On each backend, for writes and "changes nothing"."""
    async with serving(planning_app(database_url)) as client:
        yield client


@pytest.fixture
async def planning_http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """On each backend, seen as a real client sees it (a crash is a 500 response)."""
    async with serving_over_http(planning_app(database_url)) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One service per backend and test module holding `build_world`'s strategy and plans,
    shared by the reading tests and by the refused writes (each of which checks that it
    changed nothing), to keep the suite fast."""
    async with serving(planning_app(backend_url(request, tmp_path_factory))) as client:
        yield await build_world(client)


# --- metrics ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def metrics(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Metrics]:
    """One metrics service on its own broker per backend; each test uses its own plans."""
    broker = Tansu(log_path=tmp_path_factory.mktemp("metrics") / "tansu.log").start()
    try:
        url = backend_url(request, tmp_path_factory)
        app = create_metrics_app(
            settings_for(
                MetricsSettings,
                url,
                broker.bootstrap,
                gauge_refresh_seconds=0.2,
                reach_refresh_seconds=0.2,
                kpi_interval_seconds=0.2,
            )
        )
        async with serving(app) as client:
            yield Metrics(app, client, broker.bootstrap)
    finally:
        broker.stop()
