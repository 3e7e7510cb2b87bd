"""A plan's history: each version kept as a snapshot, in a stored form of its own.

The API's models may change; what was stored may not. So a snapshot is written through these
models, not the API's, and their fields change only with a migration of the kept snapshots.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from services.planning.plans.model import Plan


class _Kept(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class KeptGoal(_Kept):
    id: str
    description: str
    metric: str
    target: float
    unit: str
    deadline: date | None


class KeptAudience(_Kept):
    id: str
    name: str
    kind: str
    needs: str
    preferred_channels: list[str]


class KeptMessage(_Kept):
    id: str
    audience_id: str
    subject: str
    body: str
    lix: float
    readability_warning: str | None


class KeptChannel(_Kept):
    id: str
    kind: str
    name: str


class KeptPartner(_Kept):
    id: str
    name: str
    kind: str
    contact: str


class KeptActivity(_Kept):
    """An activity as planned (when it next falls due is the timer's state, not kept)."""

    id: str
    title: str
    kind: str
    owner: str | None
    starts_at: datetime
    recurrence: str | None
    audience_id: str | None
    message_id: str | None
    channel_id: str | None
    event_format: str | None
    capacity: int | None
    venue: str | None
    cancelled_at: datetime | None
    partners: list[KeptPartner]


class KeptPlan(_Kept):
    id: str
    title: str
    owner: str
    sender: str
    track_id: str | None
    period_start: date | None
    period_end: date | None
    status: str
    version: int
    created_at: datetime
    updated_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    goals: list[KeptGoal]
    audiences: list[KeptAudience]
    messages: list[KeptMessage]
    channels: list[KeptChannel]
    activities: list[KeptActivity]


def snapshot(plan: Plan) -> dict:
    """The plan and its parts as JSON, as kept for each version."""
    return KeptPlan.model_validate(plan).model_dump(mode="json")
