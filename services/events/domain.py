"""Event rules in plain Python."""

from __future__ import annotations

from enum import StrEnum

from shared.contracts.planning import ActivityApproved
from shared.contracts.vocabulary import ActivityKind


class EventStatus(StrEnum):
    PLANNED = "planned"
    OPEN = "open"  # registration open
    CANCELLED = "cancelled"
    HELD = "held"


def becomes_event(activity: ActivityApproved) -> bool:
    """Only event-kind activities with event details become events here."""
    return activity.kind is ActivityKind.EVENT and activity.event is not None
