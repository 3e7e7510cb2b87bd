"""Delivery rules in plain Python: who gets what, and when a failed send is tried again."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.planning import ActivityApproved
from shared.contracts.vocabulary import ActivityKind, ChannelKind
from shared.retry import backoff_delay

EMAIL_CHANNELS = {ChannelKind.NEWSLETTER, ChannelKind.EMAIL}


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the activity was cancelled before it was sent


def sends_email(activity: ActivityApproved) -> bool:
    return activity.kind is ActivityKind.COMMUNICATION and activity.channel in EMAIL_CHANNELS


def send_times(times: list[datetime], now: datetime, *, catch_up: bool = True) -> list[datetime]:
    """When to e-mail: at each of the activity's times (one, or each occurrence of a series)
    still to come; with `catch_up`, also at the latest time already past (sent now) — earlier
    issues are history. A contact who had an issue of the activity already gets no catch-up."""
    past = [t for t in times if t <= now][-1:] if catch_up else []
    return past + [t for t in times if t > now]


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime:
    """Exponential backoff with jitter, capped at one hour."""
    return now + timedelta(seconds=backoff_delay(attempts, base=base_seconds, cap=3600.0))


def message_id(delivery_id: str) -> str:
    """The delivery's Message-ID, the same on every attempt: a resend after a crash can be
    recognised as a copy by the receiving side."""
    return f"<{delivery_id}@budskab>"
