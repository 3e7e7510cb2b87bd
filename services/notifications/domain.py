"""Delivery rules in plain Python: who gets what, and when a failed send is tried again."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.planning import ActivityApproved
from shared.contracts.vocabulary import ActivityKind, ChannelKind

EMAIL_CHANNELS = {ChannelKind.NEWSLETTER, ChannelKind.EMAIL}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


def sends_email(activity: ActivityApproved) -> bool:
    return activity.kind is ActivityKind.COMMUNICATION and activity.channel in EMAIL_CHANNELS


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime:
    """Exponential backoff with full jitter, capped at one hour."""
    ceiling = min(3600.0, base_seconds * 2 ** (attempts - 1))
    return now + timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def message_id(delivery_id: str) -> str:
    """The idempotency key of a delivery: the same on every attempt."""
    return f"<{delivery_id}@budskab>"
