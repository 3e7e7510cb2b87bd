"""The metrics API's request and response models."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from shared.contracts.metrics import KpiSource
from shared.schemas import ApiInput, ApiOutput
from shared.time import PlanDate


class PlanCounts(BaseModel):
    plan_id: str
    counts: dict[str, int]
    total: int


class MeasurementCreate(ApiInput):
    value: float = Field(
        strict=True, allow_inf_nan=False, examples=[74], description="In the goal's unit."
    )
    measured_on: PlanDate | None = Field(
        None,
        examples=["2010-06-01"],
        description="The day it was measured (default: today, UTC); not in the future.",
    )
    note: str | None = Field(None, max_length=2000, examples=["User survey 2010: 74 % satisfied"])


class MeasurementPublic(ApiOutput):
    """A measured value of a goal; `id` is the id of the kpi.measured.v1 event it was
    published as."""

    id: str
    plan_id: str
    goal_id: str
    metric: str
    value: float
    target: float
    unit: str
    source: KpiSource
    measured_at: datetime
    note: str | None
    recorded_by: str | None = Field(description="Who reported it; null for counted values.")
    recorded_at: datetime


class Kpi(BaseModel):
    goal_id: str
    metric: str
    counted: bool = Field(description="The metrics service counts it from events.")
    target: float
    unit: str
    deadline: date | None
    value: float | None = Field(description="The latest measured value (null: none yet).")
    measured_at: datetime | None
    source: KpiSource | None
    attained: bool | None = Field(description="The value reached the target (null: none yet).")


class PlanKpis(BaseModel):
    plan_id: str
    kpis: list[Kpi]
