"""Async engines for SQLite (embedded default) and PostgreSQL (production), and migrations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from alembic import command
from alembic.config import Config
from sqlalchemy import CursorResult, DateTime, Executable, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATION_LOCK_ID = 7_204_512  # any constant; the same in every replica of a service


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """`hide_parameters`: a database error's text leaves out the statement's values (an
    address, a name, a phone) — errors are logged, and personal data may not be."""
    if not is_sqlite(url):
        return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One connection: SQLite has one writer at a time and every transaction here takes the
    # write lock (below), so a second connection adds no concurrency — only SQLite's busy
    # handler, which makes a waiting writer sleep and poll (up to 100 ms at a time) where
    # the pool hands the connection to the next in line (see _TakingTurnsSession).
    engine = create_async_engine(
        url,
        connect_args={"timeout": 30},
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        hide_parameters=True,
    )
    _serialise_sqlite_writers(engine)
    return engine


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """WAL + BEGIN IMMEDIATE: concurrent writers wait for the lock instead of failing.

    A deferred SQLite transaction that reads and then writes gets SQLITE_BUSY at once
    when another writer is active; taking the write lock at BEGIN makes it queue instead.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # let SQLAlchemy emit BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: safe on a crash of the app
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class _TakingTurnsSession(AsyncSession):
    async def close(self) -> None:
        await super().close()
        # Whoever waits for the connection takes it before this task can ask again: the pool
        # (an asyncio.Queue) gives a returned connection to the first to ask, not the first to
        # wait, so a worker going from one transaction to the next would keep SQLite's only
        # connection for as long as it has work (a 20 MB import: a minute, and readers a 500).
        await asyncio.sleep(0)


def create_sessions(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, class_=_TakingTurnsSession, expire_on_commit=False)


def alembic_config(migrations_dir: Path, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def migrate(engine: AsyncEngine, migrations_dir: Path, revision: str = "head") -> None:
    """Bring the service's database to the newest migration (alembic upgrade head)."""
    config = alembic_config(migrations_dir, engine.url.render_as_string(hide_password=False))

    def upgrade(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.dialect.name == "postgresql":
            # replicas starting together migrate one after the other
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows without their parent: {broken[:5]}")

    async with engine.connect() as conn:
        # SQLite changes a table by copying it (batch mode); with foreign keys enforced, dropping
        # the old copy of a table other rows refer to fails. SQLite's own procedure: switch them
        # off outside the transaction, migrate, check them, switch them on again.
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.run_sync(_pragma, "PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                await conn.run_sync(upgrade)
        finally:
            if sqlite:
                await conn.run_sync(_pragma, "PRAGMA foreign_keys=ON")


def _pragma(connection, statement: str) -> None:  # type: ignore[no-untyped-def]
    """Run a PRAGMA on the driver's connection, outside any transaction."""
    cursor = connection.connection.dbapi_connection.cursor()
    cursor.execute(statement)
    cursor.close()


class UtcDateTime(TypeDecorator):
    """Timezone-aware datetimes in UTC on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Budskab stores aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:  # type: ignore[no-untyped-def]
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def on_postgresql(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL (else SQLite): for the SQL the two spell
    differently."""
    return session.get_bind().dialect.name == "postgresql"


def upsert(session: AsyncSession, table):  # type: ignore[no-untyped-def]
    """The database's own INSERT, which has ON CONFLICT (PostgreSQL and SQLite alike)."""
    return (postgresql if on_postgresql(session) else sqlite).insert(table)


async def changed_rows(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE; the number of rows it changed."""
    result = await session.execute(statement)
    return cast(CursorResult, result).rowcount
