"""The events API's response models."""

from __future__ import annotations

from datetime import datetime

from services.events.domain import EventStatus
from shared.contracts.vocabulary import EventFormat
from shared.schemas import ApiOutput


class EventPublic(ApiOutput):
    id: str
    activity_id: str
    plan_id: str
    title: str
    format: EventFormat
    starts_at: datetime
    capacity: int
    venue: str | None
    status: EventStatus
    created_at: datetime
