"""Bring services' databases to their newest migration, and exit: the Kubernetes migration
Job runs this before a rollout, so the services can start with MIGRATE_ON_START=false.

    python -m scripts.migrate planning events notifications metrics

Each service's database URL comes from the variable the service itself reads
(PLANNING_DATABASE_URL, EVENTS_DATABASE_URL, ...), nothing else: no token key is needed.
It is what a service does at start (shared.db.migrate: on PostgreSQL under an advisory lock,
so a service starting meanwhile waits), and does nothing on a database that is up to date.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.db import create_engine, migrate
from shared.settings import ServiceSettings

SETTINGS = {
    "planning": "services.planning.settings:PlanningSettings",
    "events": "services.events.settings:EventsSettings",
    "notifications": "services.notifications.settings:NotificationsSettings",
    "metrics": "services.metrics.settings:MetricsSettings",
}


def settings_class(service: str) -> type[ServiceSettings]:
    module, name = SETTINGS[service].split(":")
    return getattr(importlib.import_module(module), name)


def database_url(service: str) -> str:
    """The service's DATABASE_URL as its settings read it (same prefix, same default),
    without the rest of its settings."""
    settings = settings_class(service)

    class Database(BaseSettings):
        model_config = SettingsConfigDict(
            env_prefix=settings.model_config["env_prefix"], extra="ignore"
        )
        database_url: str = settings.model_fields["database_url"].default

    return Database().database_url


async def migrate_service(service: str) -> str:
    url = database_url(service)
    package = importlib.import_module(f"services.{service}").__file__
    assert package is not None, f"services.{service} is not a package"
    migrations = Path(package).parent
    engine = create_engine(url)
    try:
        await migrate(engine, migrations / "migrations")
    finally:
        await engine.dispose()
    return make_url(url).render_as_string(hide_password=True)


async def run(services: Sequence[str]) -> None:
    for service in services:
        where = await migrate_service(service)
        print(f"{service}: migrated to the newest schema ({where})", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.migrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("services", nargs="+", choices=sorted(SETTINGS), metavar="service")
    args = parser.parse_args(argv)
    asyncio.run(run(args.services))
    return 0


if __name__ == "__main__":
    sys.exit(main())
