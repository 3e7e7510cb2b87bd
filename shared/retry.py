"""One backoff rule for everything that retries: relay, broker connection, consumers, sender."""

import random

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base · 2^(attempt-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def is_transient(exc: BaseException) -> bool:
    """An outage of something we depend on (database, network), not a fault of the message:
    worth waiting out, never worth dead-lettering."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated
