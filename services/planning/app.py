from pathlib import Path

from fastapi import FastAPI

from services.planning import handlers, routes
from services.planning.settings import PlanningSettings
from services.planning.tables import Base
from shared.http import create_app as create_service_app
from shared.runtime import Runtime


def create_app(settings: PlanningSettings | None = None) -> FastAPI:
    settings = settings or PlanningSettings()
    runtime = Runtime(
        settings,
        name="planning",
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        subscriptions=[handlers.subscription(settings.consumer_group)],
    )
    return create_service_app(
        runtime,
        title="Budskab planning",
        description="Communication plans: audiences, messages, channels, activities, approval.",
        routers=[routes.router],
    )
