"""The metrics service, set to kill itself (SIGKILL) in the middle of a run of batches:
`CRASH=after_commit` right after the Nth batch's transaction commits, before its offsets do
(the window in which a crash means redelivery of what was already applied);
`CRASH=before_commit` with the Nth batch's handlers run and its transaction still open.
N is `CRASH_ON_BATCH` (1 by default). Run as `python -m tests.crashing_metrics`."""

import os
import signal

from services.metrics.app import create_app
from shared.http import serve
from shared.messaging import EventConsumer
from shared.uow import UnitOfWork

CRASH = os.environ["CRASH"]
CRASH_ON_BATCH = int(os.environ.get("CRASH_ON_BATCH", "1"))
BATCH = 100  # a transaction of at least this many messages is a batch, not a retry alone

_apply_batch, _commit = EventConsumer._apply_batch, UnitOfWork.commit
batches_seen = 0
in_a_batch = False


async def apply_batch(self: EventConsumer, work: list) -> None:  # type: ignore[type-arg]
    global batches_seen, in_a_batch
    in_a_batch = len(work) >= BATCH
    batches_seen += in_a_batch
    await _apply_batch(self, work)


async def commit(self: UnitOfWork) -> None:
    dies = in_a_batch and batches_seen == CRASH_ON_BATCH
    if dies and CRASH == "before_commit":
        os.kill(os.getpid(), signal.SIGKILL)
    await _commit(self)
    if dies and CRASH == "after_commit":
        os.kill(os.getpid(), signal.SIGKILL)


EventConsumer._apply_batch = apply_batch  # type: ignore[method-assign]
UnitOfWork.commit = commit  # type: ignore[method-assign]
serve(create_app())
