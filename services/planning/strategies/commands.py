"""What the strategies API does: a strategy with its tree of focus areas, tracks and
sub-tracks, and its yearly action plan."""

from __future__ import annotations

from sqlalchemy import insert

from services.planning import domain
from services.planning.domain import NodeLevel
from services.planning.strategies import schemas
from services.planning.strategies.queries import get_strategy, latest_version
from services.planning.tables import ActionPlanVersion, Strategy, StrategyNode
from shared.auth import Principal
from shared.db import new_id
from shared.errors import PreconditionFailed, RuleViolation
from shared.uow import UnitOfWork


def _tree_rows(
    strategy_id: str,
    trees: list[schemas.NodeTree],
    parent: dict | None = None,
    path: str = "focus_areas",
    rows: list[dict] | None = None,
) -> list[dict]:
    """The rows of `trees` under `parent`, depth first, numbered in that order. Plain rows,
    inserted in one statement: hundreds of ORM objects would hold the event loop (and every
    other request, /healthz too) for tens of milliseconds."""
    rows = [] if rows is None else rows
    for i, tree in enumerate(trees):
        where = f"{path}[{i}]"
        try:
            level = domain.child_level(NodeLevel(parent["level"]) if parent else None)
        except RuleViolation:
            raise RuleViolation(
                "a sub-track is the bottom of the tree",
                errors=[{"field": where, "message": "sub-tracks cannot have children"}],
            ) from None
        row = {
            "id": new_id(),
            "strategy_id": strategy_id,
            "parent_id": parent["id"] if parent else None,
            "level": level,
            "name": tree.name,
            "description": tree.description,
            "position": len(rows),
        }
        rows.append(row)
        _tree_rows(strategy_id, tree.children, row, f"{where}.children", rows)
    return rows


async def create_strategy(uow: UnitOfWork, cmd: schemas.StrategyCreate) -> str:
    domain.check_period(cmd.period_start, cmd.period_end, max_years=domain.MAX_STRATEGY_YEARS)
    async with uow:
        strategy = Strategy(
            id=new_id(),
            created_at=uow.now(),
            **cmd.model_dump(exclude={"focus_areas"}),
        )
        uow.session.add(strategy)
        if rows := _tree_rows(strategy.id, cmd.focus_areas):
            await uow.session.execute(insert(StrategyNode), rows)
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
