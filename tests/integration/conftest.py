"""Fixtures the integration modules share (the suite-wide ones, broker, postgres,
database_url..., are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from scripts.stack import Tansu
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from tests.api import backend_url
from tests.helpers import serving, settings_for
from tests.services import Metrics


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
                kpi_interval_seconds=0.2,
            )
        )
        async with serving(app) as client:
            yield Metrics(app, client, broker.bootstrap)
    finally:
        broker.stop()
