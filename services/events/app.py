from pathlib import Path

from fastapi import FastAPI

from services.events import handlers, routes
from services.events.settings import EventsSettings
from services.events.tables import Base
from shared.http import create_app as create_service_app


def create_app(settings: EventsSettings | None = None) -> FastAPI:
    settings = settings or EventsSettings()
    return create_service_app(
        settings,
        name="events",
        title="Budskab events",
        description="Events (conferences, theme days, round tables, workshops ...) created from approved activities.",
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[routes.router],
        subscriptions=[handlers.subscription(settings.consumer_group)],
    )
