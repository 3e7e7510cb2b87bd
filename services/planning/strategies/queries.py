"""Read models of strategies: a strategy's tree and its action plan's versions."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning import domain
from services.planning.strategies import schemas
from services.planning.tables import ActionPlanVersion, Strategy, StrategyNode
from shared.errors import NotFound


async def get_strategy(
    session: AsyncSession, strategy_id: str, *, for_update: bool = False
) -> Strategy:
    """The strategy with its tree; `for_update` locks it until the transaction ends, so that
    revisions of its action plan take turns (and a stale one gets 412, not a clash)."""
    strategy = await session.get(
        Strategy,
        strategy_id,
        with_for_update=for_update,
        options=[selectinload(Strategy.nodes)],
    )
    if strategy is None:
        raise NotFound(f"no strategy with id {strategy_id}")
    return strategy


async def strategy_detail(session: AsyncSession, strategy_id: str) -> schemas.StrategyDetail:
    strategy = await get_strategy(session, strategy_id)
    children: dict[str | None, list[StrategyNode]] = {}
    for node in strategy.nodes:
        children.setdefault(node.parent_id, []).append(node)

    def tree(node: StrategyNode) -> schemas.NodeDetail:
        return schemas.NodeDetail(
            **schemas.NodePublic.model_validate(node).model_dump(),
            children=[tree(child) for child in children.get(node.id, [])],
        )

    return schemas.StrategyDetail(
        **schemas.StrategySummary.model_validate(strategy).model_dump(),
        focus_areas=[tree(node) for node in children.get(None, [])],
        action_plan_version=await latest_version(session, strategy_id),
    )


async def latest_version(session: AsyncSession, strategy_id: str) -> int | None:
    return await session.scalar(
        select(func.max(ActionPlanVersion.version)).where(
            ActionPlanVersion.strategy_id == strategy_id
        )
    )


async def action_plan_version(
    session: AsyncSession, strategy_id: str, version: int | None = None
) -> ActionPlanVersion:
    """One version of the action plan; the latest when `version` is None."""
    await get_strategy(session, strategy_id)
    version = version or await latest_version(session, strategy_id)
    if version is None:
        raise NotFound("the strategy has no action plan yet")
    found = await session.scalar(
        select(ActionPlanVersion).where(
            ActionPlanVersion.strategy_id == strategy_id, ActionPlanVersion.version == version
        )
    )
    if found is None:
        raise NotFound(f"the strategy's action plan has no version {version}")
    return found


async def action_plan_versions(session: AsyncSession, strategy_id: str) -> list[ActionPlanVersion]:
    await get_strategy(session, strategy_id)
    return list(
        await session.scalars(
            select(ActionPlanVersion)
            .where(ActionPlanVersion.strategy_id == strategy_id)
            .order_by(ActionPlanVersion.version)
        )
    )


async def action_plan_diff(
    session: AsyncSession, strategy_id: str, from_version: int, to_version: int
) -> schemas.ActionPlanDiff:
    before = await action_plan_version(session, strategy_id, from_version)
    after = await action_plan_version(session, strategy_id, to_version)
    return schemas.ActionPlanDiff(
        from_version=from_version,
        to_version=to_version,
        **domain.diff_items(before.items, after.items, domain.action_item_key),
    )
