from pathlib import Path

from fastapi import FastAPI

from services.notifications import (
    contact_routes,
    handlers,
    list_routes,
    pages,
    send_routes,
    template_routes,
    webhook_routes,
)
from services.notifications.contacts import run_imports
from services.notifications.fanout import run_fanout
from services.notifications.sender import run_queue_gauges, run_sender
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Base
from shared.http import create_app as create_service_app


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    return create_service_app(
        settings,
        name="notifications",
        title="Budskab notifications",
        description="Contacts with consent; sends to audiences by e-mail, SMS or webhook (approved newsletter, e-mail and SMS activities, or made here) with a ledger per recipient; unsubscribe and bounces.",
        metadata=Base.metadata,
        migrations_dir=Path(__file__).parent / "migrations",
        routers=[
            contact_routes.router,
            list_routes.router,
            send_routes.router,
            template_routes.router,
            webhook_routes.router,
            pages.router,
        ],
        subscriptions=[handlers.subscription(settings)],
        workers=[run_imports, run_fanout, run_sender, run_queue_gauges],
    )
