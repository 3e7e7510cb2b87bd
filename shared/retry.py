"""One backoff rule for everything that retries: relay, broker connection, consumers, workers;
and one loop that retries with it until something succeeds."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# SQLSTATE classes of a server that is away, full or starting: 08 connection exception,
# 53 insufficient resources (too many clients), 57 operator intervention (starting up,
# shutting down, crash recovery, failover)
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with jitter: between half and all of min(cap, base · 2^(attempt-1))."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


T = TypeVar("T")


async def retry_forever(
    attempt: Callable[[], Awaitable[T]],
    *,
    on_failure: Callable[[Exception, float], Awaitable[None]],
    base: float = 0.5,
    cap: float = 30.0,
) -> T:
    """Await `attempt()` until it returns. After each failure, `on_failure(error, delay)` (log
    it, count it, clean up), then wait `delay`: bounded, growing, with jitter."""
    failures = 0
    while True:
        try:
            return await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            failures += 1
            delay = backoff_delay(failures, base=base, cap=cap)
            await on_failure(error, delay)
            await asyncio.sleep(delay)


def is_transient(exc: BaseException) -> bool:
    """An outage of something we depend on (database, network), not a fault of the message:
    worth waiting out, never worth dead-lettering."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout | OSError | TimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(
        getattr(exc.orig, "__cause__", None), "sqlstate", None
    )
    return exc.connection_invalidated or str(sqlstate or "").startswith(_OUTAGE_SQLSTATE_CLASSES)
