"""Each service's migrations build exactly the schema its tables describe, on both backends."""

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scripts.stack import SERVICES
from shared.db import create_engine, migrate

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_the_tables(service: str, database_url: str) -> None:
    tables = importlib.import_module(f"services.{service}.tables")
    migrations = Path(importlib.import_module(f"services.{service}").__file__).parent / "migrations"
    engine = create_engine(database_url)
    try:
        await migrate(engine, migrations)
        await migrate(engine, migrations)  # a second start finds nothing to do

        def diff(connection):  # type: ignore[no-untyped-def]
            return compare_metadata(MigrationContext.configure(connection), tables.Base.metadata)

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()
