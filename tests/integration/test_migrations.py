"""Each service's migrations build exactly the schema its tables describe, on both backends."""

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

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


async def test_planning_upgrades_a_database_that_holds_plans(database_url: str) -> None:
    """The strategies migration changes tables other rows refer to (SQLite copies them): a
    database from before it, with plans, activities and deviations, upgrades and keeps them."""
    migrations = Path(importlib.import_module("services.planning").__file__).parent / "migrations"
    engine = create_engine(database_url)
    now = "2016-01-01 00:00:00+00:00"
    rows = [
        "INSERT INTO plans (id, title, owner, sender, status, version, created_at, updated_at)"
        f" VALUES ('p', 'Kommune forfra', 'Borgmesterens Afdeling', 'Aarhus Kommune', 'approved', 3, '{now}', '{now}')",
        "INSERT INTO activities (id, plan_id, position, title, kind, starts_at, due_fired_at)"
        f" VALUES ('fired', 'p', 0, 'Kronik', 'communication', '2015-09-15 04:00:00+00:00', '{now}')",
        "INSERT INTO activities (id, plan_id, position, title, kind, starts_at)"
        " VALUES ('waiting', 'p', 1, 'Rethink', 'event', '2017-05-10 07:00:00+00:00')",
        "INSERT INTO deviations (id, plan_id, activity_id, change, before, after, reason,"
        " agreed_by, recorded_by, recorded_at) VALUES ('d', 'p', 'waiting', 'rescheduled', 'a',"
        f" 'b', 'Aarhus 2017', 'Magistraten', 'tester', '{now}')",
    ]  # fmt: skip
    try:
        await migrate(engine, migrations, "797123f74b30")  # the head before strategies
        async with engine.begin() as conn:
            for row in rows:
                await conn.exec_driver_sql(row)
        await migrate(engine, migrations)
        async with engine.connect() as conn:
            activities = (
                await conn.exec_driver_sql(
                    "SELECT id, next_due_at IS NOT NULL FROM activities ORDER BY id"
                )
            ).all()
            plans = (await conn.exec_driver_sql("SELECT id, track_id, version FROM plans")).all()
            deviations = (await conn.exec_driver_sql("SELECT activity_id FROM deviations")).all()
            orphan = conn.exec_driver_sql(
                "INSERT INTO goals (id, plan_id, position, description, metric, target, unit)"
                " VALUES ('g', 'no-such-plan', 0, 'x', 'x', 1, 'x')"
            )
            with pytest.raises(IntegrityError):  # foreign keys are enforced again
                await orphan
    finally:
        await engine.dispose()
    assert activities == [("fired", False), ("waiting", True)]  # only what has not fallen due
    assert plans == [("p", None, 3)]
    assert deviations == [("waiting",)]
