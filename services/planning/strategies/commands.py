"""What the strategies API does: a strategy with its tree of focus areas, tracks and
sub-tracks, and its yearly action plan. The rules are the aggregate's (`model`)."""

from __future__ import annotations

from services.planning.strategies import schemas
from services.planning.strategies.model import ActionPlanVersion, Strategy, StrategyNode
from services.planning.unit_of_work import PlanningUnitOfWork
from shared.auth import Principal


async def create_strategy(uow: PlanningUnitOfWork, cmd: schemas.StrategyCreate) -> str:
    async with uow:
        strategy = Strategy.create(cmd.model_dump(exclude={"focus_areas"}), uow.now())
        await uow.strategies.add(strategy, strategy.plant(cmd.focus_areas))
        await uow.commit()
    return strategy.id


async def add_node(
    uow: PlanningUnitOfWork, strategy_id: str, cmd: schemas.NodeCreate
) -> StrategyNode:
    async with uow:
        strategy = await uow.strategies.get_for_change(strategy_id)
        node = strategy.add_node(cmd.parent_id, cmd.name, cmd.description)
        await uow.commit()
    return node


async def revise_action_plan(
    uow: PlanningUnitOfWork,
    strategy_id: str,
    cmd: schemas.ActionPlanRevise,
    by: Principal,
    expected: frozenset[int] | None,
) -> ActionPlanVersion:
    """Write the next version of the action plan; the earlier ones stay as they were."""
    async with uow:
        strategy = await uow.strategies.get_for_change(strategy_id)
        revision = strategy.revise_action_plan(
            cmd.year,
            [item.model_dump() for item in cmd.items],
            cmd.note,
            by=by.subject,
            at=uow.now(),
            expected=expected,
        )
        await uow.commit()
    return revision
