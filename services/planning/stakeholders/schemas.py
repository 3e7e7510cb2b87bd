"""The stakeholders API's request and response models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from services.planning.domain import GatekeeperRole
from shared.schemas import ApiInput
from shared.schemas import ApiOutput as _Out
from shared.time import PlanDate


class StakeholderCreate(ApiInput):
    name: str = Field(min_length=1, max_length=200, examples=["Sport og Fritid (MKB)"])
    organisation: str = Field("", max_length=200, examples=["Aarhus Kommune"])
    gatekeeper: GatekeeperRole = GatekeeperRole.NONE
    relays_to: str = Field("", max_length=2000, examples=["staff, local employment councils"])


class RelationCreate(ApiInput):
    other_id: str
    description: str = Field("", max_length=2000, examples=["Meets at the school-district board"])


class DialogueCreate(ApiInput):
    held_on: PlanDate
    participants: str = Field(min_length=1, max_length=2000)
    outcome: str = Field(min_length=1, max_length=20000)
    follow_up: str = Field("", max_length=20000)
    follow_up_by: PlanDate | None = None


class DialoguePublic(_Out):
    id: str
    held_on: date
    participants: str
    outcome: str
    follow_up: str
    follow_up_by: date | None
    logged_by: str


class RelationPublic(BaseModel):
    stakeholder_id: str
    name: str
    description: str


class StakeholderPublic(_Out):
    id: str
    name: str
    organisation: str
    gatekeeper: GatekeeperRole
    relays_to: str
    created_at: datetime


class StakeholderDetail(StakeholderPublic):
    relations: list[RelationPublic]
    dialogues: list[DialoguePublic]
