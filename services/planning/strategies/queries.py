"""Read models of strategies: a strategy's tree and its action plan's versions."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import domain
from services.planning.strategies import schemas
from services.planning.strategies.model import ActionPlanVersion, Strategy, StrategyNode
from services.planning.strategies.repository import load_strategy
from shared.errors import NotFound
from shared.pagination import Page, page_of


async def strategies_page(
    session: AsyncSession, *, limit: int, offset: int
) -> Page[schemas.StrategySummary]:
    query = select(Strategy).order_by(Strategy.period_start, Strategy.id)
    return await page_of(session, query, schemas.StrategySummary, limit=limit, offset=offset)


async def strategy_detail(session: AsyncSession, strategy_id: str) -> schemas.StrategyDetail:
    strategy = await load_strategy(session, strategy_id)
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
        action_plan_version=strategy.action_plan_version or None,
    )


async def action_plan_version(
    session: AsyncSession, strategy_id: str, version: int | None = None
) -> ActionPlanVersion:
    """One version of the action plan; the latest when `version` is None."""
    strategy = await load_strategy(session, strategy_id)
    version = version or strategy.action_plan_version
    if not version:
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
    await load_strategy(session, strategy_id)
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
