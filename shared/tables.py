"""The tables every service's database has beside its own."""

from sqlalchemy.orm import DeclarativeBase

from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table


def service_base() -> type[DeclarativeBase]:
    """A declarative base whose metadata already holds the outbox, the inbox and the
    idempotency keys; a service declares its own tables on it."""

    class Base(DeclarativeBase):
        pass

    outbox_table(Base.metadata)
    inbox_table(Base.metadata)
    idempotency_table(Base.metadata)
    return Base
