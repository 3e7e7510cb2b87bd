"""What the strategies API does: a strategy with its tree of focus areas, tracks and
sub-tracks, and its yearly action plan."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import domain
from services.planning.domain import NodeLevel
from services.planning.strategies import schemas
from services.planning.strategies.queries import get_strategy, latest_version
from services.planning.tables import ActionPlanVersion, Strategy, StrategyNode
from shared.auth import Principal
from shared.db import new_id
from shared.errors import PreconditionFailed, RuleViolation
from shared.uow import UnitOfWork


def _add_tree(
    session: AsyncSession,
    strategy: Strategy,
    trees: list[schemas.NodeTree],
    parent: StrategyNode | None,
    start: int,
    path: str,
) -> int:
    """Add `trees` under `parent`, depth first; returns the next free position."""
    position = start
    for i, tree in enumerate(trees):
        where = f"{path}[{i}]"
        try:
            level = domain.child_level(NodeLevel(parent.level) if parent else None)
        except RuleViolation:
            raise RuleViolation(
                "a sub-track is the bottom of the tree",
                errors=[{"field": where, "message": "sub-tracks cannot have children"}],
            ) from None
        node = StrategyNode(
            id=new_id(),
            strategy_id=strategy.id,
            parent_id=parent.id if parent else None,
            level=level,
            name=tree.name,
            description=tree.description,
            position=position,
        )
        session.add(node)
        position = _add_tree(
            session, strategy, tree.children, node, position + 1, f"{where}.children"
        )
    return position


async def create_strategy(uow: UnitOfWork, cmd: schemas.StrategyCreate) -> str:
    domain.check_period(cmd.period_start, cmd.period_end, max_years=domain.MAX_STRATEGY_YEARS)
    async with uow:
        strategy = Strategy(
            id=new_id(),
            created_at=uow.now(),
            **cmd.model_dump(exclude={"focus_areas"}),
        )
        uow.session.add(strategy)
        _add_tree(uow.session, strategy, cmd.focus_areas, None, 0, "focus_areas")
        await uow.commit()
    return strategy.id


async def add_node(uow: UnitOfWork, strategy_id: str, cmd: schemas.NodeCreate) -> StrategyNode:
    async with uow:
        strategy = await get_strategy(uow.session, strategy_id)
        parent = None
        if cmd.parent_id is not None:
            parent = next((n for n in strategy.nodes if n.id == cmd.parent_id), None)
            if parent is None:
                raise RuleViolation(
                    f"{cmd.parent_id} is not part of this strategy",
                    errors=[{"field": "parent_id", "message": "not part of this strategy"}],
                )
        node = StrategyNode(
            id=new_id(),
            strategy_id=strategy.id,
            parent_id=cmd.parent_id,
            level=domain.child_level(NodeLevel(parent.level) if parent else None),
            name=cmd.name,
            description=cmd.description,
            position=len(strategy.nodes),
        )
        uow.session.add(node)
        await uow.commit()
    return node


async def revise_action_plan(
    uow: UnitOfWork,
    strategy_id: str,
    cmd: schemas.ActionPlanRevise,
    by: Principal,
    expected: frozenset[int] | None,
) -> ActionPlanVersion:
    """Write the next version of the action plan; the earlier ones stay as they were."""
    async with uow:
        strategy = await get_strategy(uow.session, strategy_id, for_update=True)
        domain.check_action_plan_year(cmd.year, strategy.period_start, strategy.period_end)
        nodes = {n.id for n in strategy.nodes}
        for i, item in enumerate(cmd.items):
            if item.track_id not in nodes:
                raise RuleViolation(
                    f"{item.track_id} is not part of this strategy",
                    errors=[{"field": f"items[{i}].track_id", "message": "not in this strategy"}],
                )
        items = [item.model_dump() for item in cmd.items]
        domain.check_unique_items(items)
        latest = await latest_version(uow.session, strategy_id) or 0
        if expected is not None and latest not in expected:
            raise PreconditionFailed(
                f"the action plan is at version {latest}, not {' or '.join(map(str, sorted(expected)))}:"
                " reload and retry"
            )
        revision = ActionPlanVersion(
            id=new_id(),
            strategy_id=strategy_id,
            version=latest + 1,
            year=cmd.year,
            note=cmd.note,
            items=items,
            revised_by=by.subject,
            revised_at=uow.now(),
        )
        uow.session.add(revision)  # two racing revisions: the unique version makes one a 409
        await uow.commit()
    return revision
