"""The tables every service's database has beside its own."""

from sqlalchemy import MetaData

from shared.idempotency import idempotency_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table


def service_metadata() -> MetaData:
    """Metadata that already holds the outbox, the inbox and the idempotency keys: a service's
    declarative base takes it, and declares its own tables beside them::

        class Base(DeclarativeBase):
            metadata = service_metadata()
    """
    metadata = MetaData()
    outbox_table(metadata)
    inbox_table(metadata)
    idempotency_table(metadata)
    return metadata
