"""Event contracts: the envelope, the registry and one module of models per producing service.

Importing this package registers every event type.
"""

from shared.contracts import events, metrics, notifications, planning  # noqa: F401  (registers types)
from shared.contracts.envelope import (
    CONTENT_TYPE,
    Envelope,
    EventData,
    InvalidEvent,
    UnknownEventType,
    new_envelope,
    registry,
)

__all__ = [
    "CONTENT_TYPE",
    "Envelope",
    "EventData",
    "InvalidEvent",
    "UnknownEventType",
    "new_envelope",
    "registry",
]
