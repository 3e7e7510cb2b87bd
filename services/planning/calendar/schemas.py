"""The calendar's entries."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.planning.domain import PlanStatus
from shared.contracts.vocabulary import ActivityKind, ChannelKind


class CalendarEntry(BaseModel):
    """One activity on the calendar across plans (a recurring one: each occurrence)."""

    activity_id: str
    title: str
    kind: ActivityKind
    starts_at: datetime = Field(description="When it (this occurrence) takes place.")
    recurring: bool = False
    plan_id: str
    plan_title: str
    plan_status: PlanStatus
    audience: str | None
    channel: ChannelKind | None
