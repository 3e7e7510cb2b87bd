"""Each service's migrations build exactly the schema its tables describe, on both backends."""

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.exc import IntegrityError

from scripts.stack import SERVICES
from shared import plumbing_migrations
from shared.db import create_engine, migrate
from shared.tables import service_metadata

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
    ]
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


async def test_a_strategy_upgrades_knowing_its_latest_action_plan_version(
    database_url: str,
) -> None:
    """The strategy keeps the number of its action plan's latest version since 2026-12: the
    upgrade fills it in from the versions stored before, 0 where there are none."""
    migrations = Path(importlib.import_module("services.planning").__file__).parent / "migrations"
    engine = create_engine(database_url)
    now = "2013-01-01 00:00:00+00:00"
    strategy = (
        'INSERT INTO strategies (id, name, organisation, vision, "values", period_start,'
        " period_end, created_at) VALUES ('{id}', 'Strategiplan 2013–2014', 'Silkeborg Kommune',"
        f" 'Synlig, kompetent og innovativ', '[]', '2013-01-01', '2014-12-31', '{now}')"
    )
    revision = (
        "INSERT INTO action_plan_versions (id, strategy_id, version, year, note, items,"
        f" revised_by, revised_at) VALUES ('{{id}}', 's', {{version}}, 2013, '', '[]', 'k', '{now}')"
    )
    try:
        await migrate(engine, migrations, "d1a4e7b90c21")  # the head before the count
        async with engine.begin() as conn:
            await conn.exec_driver_sql(strategy.format(id="s"))
            await conn.exec_driver_sql(strategy.format(id="new"))
            for version in (1, 2):
                await conn.exec_driver_sql(revision.format(id=f"v{version}", version=version))
        await migrate(engine, migrations)
        async with engine.connect() as conn:
            counted = (
                await conn.exec_driver_sql(
                    "SELECT id, action_plan_version FROM strategies ORDER BY id"
                )
            ).all()
    finally:
        await engine.dispose()
    assert counted == [("new", 0), ("s", 2)]


async def test_notifications_upgrades_deliveries_into_sends(database_url: str) -> None:
    """Deliveries made before sends were kept become sends, one per activity and time —
    completed if nothing is pending, still sending if something is — and a contact's
    address gets the hash suppressions are kept by; still one e-mail per send and contact."""
    import hashlib

    package = importlib.import_module("services.notifications")
    migrations = Path(package.__file__).parent / "migrations"
    engine = create_engine(database_url)
    now, issue = "2016-01-01 00:00:00+00:00", "2016-02-01 07:00:00+00:00"
    delivery = (
        "INSERT INTO deliveries (id, activity_id, plan_id, contact_id, channel, subject, body,"
        " status, attempts, next_attempt_at, created_at{extra}) VALUES ('{id}', '{activity}', 'p', 'c',"
        " 'newsletter', 'Tendens', 'Nyt', '{status}', {attempts}, '{due}', '{now}'{value})"
    )
    try:
        await migrate(engine, migrations, "5bb084cd12c1")  # the initial schema
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO contacts (id, email, name, email_consent, created_at)"
                f" VALUES ('c', 'Mette@example.org', 'Mette', true, '{now}')"
            )
            for id_, status, attempts, due in (
                ("sent", "sent", 1, now),
                ("waiting", "pending", 0, issue),
            ):
                await conn.exec_driver_sql(
                    delivery.format(
                        id=id_,
                        activity=id_,
                        status=status,
                        attempts=attempts,
                        due=due,
                        now=now,
                        extra="",
                        value="",
                    )
                )
        await migrate(engine, migrations)
        async with engine.begin() as conn:
            kept = (
                await conn.exec_driver_sql(
                    "SELECT d.id, s.activity_id, s.status, s.subject, s.fanned_out"
                    " FROM deliveries d JOIN sends s ON s.id = d.send_id ORDER BY d.id"
                )
            ).all()
            [email_hash] = (await conn.exec_driver_sql("SELECT email_hash FROM contacts")).scalars()
            send_id = (
                await conn.exec_driver_sql("SELECT send_id FROM deliveries WHERE id = 'waiting'")
            ).scalar()
        async with engine.begin() as conn:
            again = conn.exec_driver_sql(
                "INSERT INTO deliveries (id, send_id, contact_id, channel, status, attempts,"
                " scheduled_for, next_attempt_at, created_at) VALUES ('twice', "
                f"'{send_id}', 'c', 'newsletter', 'pending', 0, '{now}', '{now}', '{now}')"
            )
            with pytest.raises(IntegrityError):  # one e-mail per send and contact
                await again
    finally:
        await engine.dispose()
    assert [tuple(row) for row in kept] == [
        ("sent", "sent", "completed", "Tendens", True),
        ("waiting", "waiting", "sending", "Tendens", True),
    ]
    assert email_hash == hashlib.sha256(b"mette@example.org").hexdigest()


async def test_notifications_keeps_the_stops_of_contacts_by_their_numbers(
    database_url: str,
) -> None:
    """A STOP kept on a contact before stops were kept by number becomes its number's stop:
    no text to that number after the upgrade either."""
    package = importlib.import_module("services.notifications")
    migrations = Path(package.__file__).parent / "migrations"
    engine = create_engine(database_url)
    now, stopped = "2026-04-14 09:00:00+00:00", "2026-04-15 20:00:00+00:00"
    try:
        await migrate(engine, migrations, "c4e1a7d9b3f5")  # stops kept on contacts
        async with engine.begin() as conn:
            for id_, phone, stopped_at in (
                ("karen", "'+4521000001'", f"'{stopped}'"),
                ("jonas", "'+4521000002'", "NULL"),
                ("per", "NULL", f"'{stopped}'"),  # stopped, then lost the number: nothing to keep
            ):
                await conn.exec_driver_sql(
                    "INSERT INTO contacts (id, email, email_hash, name, phone, email_consent,"
                    f" sms_consent, sms_stopped_at, created_at) VALUES ('{id_}',"
                    f" '{id_}@silkeborg.example', '{id_}', '{id_}', {phone}, true, false,"
                    f" {stopped_at}, '{now}')"
                )
        await migrate(engine, migrations)
        async with engine.begin() as conn:
            stops = (await conn.exec_driver_sql("SELECT phone, stopped_at FROM sms_stops")).all()
    finally:
        await engine.dispose()
    assert [(phone, str(at)[:16]) for phone, at in stops] == [("+4521000001", "2026-04-15 20:00")]


async def test_the_shared_bookkeeping_steps_build_what_shared_declares(database_url: str) -> None:
    """A new service's migrations call shared.plumbing_migrations' steps in order: together
    they build the outbox, inbox and idempotency keys exactly as shared/ declares them."""
    engine = create_engine(database_url)

    def build_then_diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection)
        with Operations.context(context):
            plumbing_migrations.create_bookkeeping_tables()
            plumbing_migrations.index_bookkeeping()
        return compare_metadata(context, service_metadata())

    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(build_then_diff) == []
    finally:
        await engine.dispose()
