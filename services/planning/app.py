from pathlib import Path

from fastapi import FastAPI

from services.planning import handlers, routes, timers
from services.planning.plans.repository import PlanningUnitOfWork
from services.planning.settings import PlanningSettings
from services.planning.tables import Base
from shared.http import create_app as create_service_app


def create_app(settings: PlanningSettings | None = None) -> FastAPI:
    settings = settings or PlanningSettings()
    return create_service_app(
        settings,
        name="planning",
        title="Budskab planning",
        description="Communication plans: audiences, messages, channels, activities and their approval.",
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            routes.router,
            routes.audiences,
            routes.partners,
            routes.strategies,
            routes.calendar,
            routes.stakeholders,
        ],
        subscriptions=[handlers.subscription(settings.consumer_group)],
        workers=[timers.run_due_timer],
        unit_of_work=PlanningUnitOfWork,
    )
