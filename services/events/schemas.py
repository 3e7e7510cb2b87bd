"""The events API's response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.events.domain import EventStatus
from shared.contracts.vocabulary import EventFormat


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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
