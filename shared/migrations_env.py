"""The body of every service's Alembic env.py: one copy, called with the service's metadata.

Run by the service at start (sharing its connection) or by the `alembic` command line
(creating its own async engine from the configured URL).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from shared.db import create_engine


def run_migrations(target_metadata: MetaData) -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata)
    else:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
        asyncio.run(_run_with_own_engine(url, target_metadata))


def _run(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str, target_metadata: MetaData) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run, target_metadata)
    await engine.dispose()
