"""Planning's unit of work: the session, and on it the repositories of its aggregates.

When it commits, every plan changed in it has its new version kept and its events moved into
the outbox (`Plans.save`), in the same transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.planning.outcomes import ActivityOutcomes
from services.planning.plans.repository import Plans
from services.planning.strategies.repository import Strategies
from shared.http import get_uow
from shared.uow import UnitOfWork


class PlanningUnitOfWork(UnitOfWork):
    plans: Plans
    strategies: Strategies
    outcomes: ActivityOutcomes

    async def __aenter__(self) -> PlanningUnitOfWork:
        await super().__aenter__()
        self.plans = Plans(self.session)
        self.strategies = Strategies(self.session)
        self.outcomes = ActivityOutcomes(self.session)
        return self

    async def commit(self) -> None:
        await self.plans.save(self)
        await super().commit()


PlanningUow = Annotated[PlanningUnitOfWork, Depends(get_uow)]  # the runtime makes this kind
