from pathlib import Path

from fastapi import FastAPI

from services.events import handlers, pages, routes, timers
from services.events.access import EventsAccess
from services.events.policy import Policy
from services.events.registrar import Registrar
from services.events.settings import EventsSettings
from services.events.tables import Base
from shared.http import create_app as create_service_app


def create_app(settings: EventsSettings | None = None) -> FastAPI:
    settings = settings or EventsSettings()
    policy = Policy.of(settings)
    app = create_service_app(
        settings,
        name="events",
        title="Budskab events",
        description="Conferences, theme days, round tables, workshops and Folkemødet debates: "
        "registration with a waitlist that never overbooks, personal links, check-in.",
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            routes.router,
            routes.own_registrations,
            routes.invitation_answers,
            routes.personal_data,
            pages.router,
        ],
        subscriptions=[handlers.subscription(settings.consumer_group, policy)],
        workers=[timers.run_timers],
    )
    registrar = Registrar(app.state.runtime.uow, policy)
    app.state.events_access = EventsAccess(policy, settings.registration_rate_limit, registrar)
    return app
