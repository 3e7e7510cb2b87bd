"""The metrics service, killed (SIGKILL) right after its first consumer transaction of a
whole batch commits — after the database, before the offsets: the window in which a crash
means redelivery of what was already applied. Run as `python -m tests.crash_after_commit`."""

import os
import signal

from services.metrics.app import create_app
from shared.http import serve
from shared.messaging import EventConsumer

BATCH = 100  # a transaction of at least this many messages is a batch, not a retry
_apply_batch = EventConsumer._apply_batch


async def _apply_batch_then_die(self: EventConsumer, work: list) -> None:  # type: ignore[type-arg]
    await _apply_batch(self, work)
    if len(work) >= BATCH:
        os.kill(os.getpid(), signal.SIGKILL)


EventConsumer._apply_batch = _apply_batch_then_die  # type: ignore[method-assign]
serve(create_app())
