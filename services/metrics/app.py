from pathlib import Path

from fastapi import FastAPI

from services.metrics import gauges, handlers, kpis, pages, routes, survey_routes, surveys
from services.metrics.settings import MetricsSettings
from services.metrics.tables import Base
from shared.http import create_app as create_service_app


def create_app(settings: MetricsSettings | None = None) -> FastAPI:
    settings = settings or MetricsSettings()
    return create_service_app(
        settings,
        name="metrics",
        title="Budskab metrics",
        description=(
            "Read models built from every event: counts per plan; each goal's measured values "
            "(counted from events, from surveys, or reported), published as kpi.measured.v1; "
            "surveys with personal single-use links; each plan's report (JSON, CSV, a page "
            "with charts)."
        ),
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[routes.router, survey_routes.router, pages.router],
        subscriptions=[handlers.subscription(settings)],
        workers=[
            gauges.refresh_gauges,
            kpis.run_measurements,
            surveys.announce_open,
            surveys.close_when_due,
        ],
    )
