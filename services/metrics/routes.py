"""The metrics service's HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from services.metrics import schemas
from services.metrics.tables import PlanCount
from shared.auth import CurrentPrincipal
from shared.http import UnitOfWorkDep

router = APIRouter(prefix="/v1/plans", tags=["metrics"])


@router.get("/{plan_id}/counts", response_model=schemas.PlanCounts)
async def plan_counts(plan_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> schemas.PlanCounts:
    """How many events of each type were seen for the plan (zero counts for an unknown plan)."""
    async with uow:
        rows = await uow.session.scalars(select(PlanCount).where(PlanCount.plan_id == plan_id))
        counts = {row.event_type: row.count for row in rows}
    return schemas.PlanCounts(plan_id=plan_id, counts=counts, total=sum(counts.values()))
