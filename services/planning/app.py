from pathlib import Path

from fastapi import FastAPI

from services.planning import handlers, timers
from services.planning.calendar import routes as calendar
from services.planning.plans import routes as plans
from services.planning.settings import PlanningSettings
from services.planning.stakeholders import routes as stakeholders
from services.planning.strategies import pages as strategy_pages
from services.planning.strategies import routes as strategies
from services.planning.tables import Base
from services.planning.unit_of_work import PlanningUnitOfWork
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
            plans.router,
            plans.audiences,
            plans.partners,
            strategies.router,
            calendar.router,
            stakeholders.router,
            strategy_pages.router,
        ],
        subscriptions=[handlers.subscription(settings.consumer_group)],
        workers=[timers.run_due_timer],
        unit_of_work=PlanningUnitOfWork,
    )
