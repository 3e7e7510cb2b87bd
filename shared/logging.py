"""JSON logs that carry the correlation id of the request or event being handled."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Hashable
from contextvars import ContextVar

import structlog

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def current_correlation_id() -> str:
    """The id of the flow being handled, or a fresh one at the start of a flow."""
    return _correlation_id.get() or str(uuid.uuid4())


class correlation:  # noqa: N801  (used as a function: `with correlation(id) as value:`)
    """The logs written inside carry this correlation id (a fresh one for None). A class, not
    a generator: consumers enter it once per message."""

    __slots__ = ("_token", "value")

    def __init__(self, correlation_id: str | None) -> None:
        self.value = correlation_id or str(uuid.uuid4())

    def __enter__(self) -> str:
        self._token = _correlation_id.set(self.value)
        return self.value

    def __exit__(self, *_exc: object) -> None:
        _correlation_id.reset(self._token)


def _add_correlation_id(_logger: object, _name: str, event_dict: dict) -> dict:
    if (cid := _correlation_id.get()) is not None:
        event_dict.setdefault("correlation_id", cid)
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Route structlog and stdlib logging (uvicorn, FastStream, aiokafka) through one renderer."""
    shared_processors: list = [
        structlog.contextvars.merge_contextvars,
        _add_correlation_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        lambda _l, _n, ed: {"service": service, **ed},
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # before the work: a debug line in a hot loop
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared_processors,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _PrivateAccessLog) for f in access.filters):
        access.addFilter(_PrivateAccessLog())
    logging.getLogger("faststream").setLevel(root.level)  # it sets INFO on itself otherwise
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    # a line per request to the SMS gateway (and the like): at a million texts, noise
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


class _PrivateAccessLog(logging.Filter):
    """uvicorn's access lines without personal data: no client address, no personal link's
    token, no query string's values (only their names: a client may put an address in one).
    Whoever holds a link's token may cancel that registration, answer that invitation,
    unsubscribe that address or read that report; a survey link's names its reference, and
    the order of the logged answers would undo an anonymous survey's anonymity."""

    LINK = re.compile(
        r"(/(?:registrations|invitations|survey|unsubscribe|reports/plans|reports/strategies)/)[^/?\s]+"
    )
    NAME = re.compile(r"[a-z_]{1,40}")  # our parameters' names; an address or token is not

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            _client, method, target, version, status = record.args
            path, mark, query = str(target).partition("?")
            shown = self.LINK.sub(r"\1…", path) + (mark + self._names(query) if mark else "")
            record.args = ("-", method, shown, version, status)
        return True

    def _names(self, query: str) -> str:
        names = (part.partition("=")[0] for part in query.split("&"))
        return "&".join(f"{n}=…" if self.NAME.fullmatch(n) else "…" for n in names)


class Throttle:
    """Lets the first of a kind of message through, then at most one per `every` seconds,
    saying how many were held back: an error that repeats 50 times a second writes a line
    a minute, not 34 MB of log. The kind is the caller's key (e.g. consumer group, event
    type and error class)."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def let_through(self, key: Hashable) -> int | None:
        """None to hold this one back; otherwise how many were held back since the last."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        if len(self._last) > 10_000:  # keys are bounded by the callers; this bounds them again
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        return self._held.pop(key, 0)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
