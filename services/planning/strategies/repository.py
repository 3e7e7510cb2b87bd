"""Strategies in the database: read with their tree, locked for a change, and stored."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning.strategies.model import Strategy, StrategyNode
from shared.errors import NotFound


async def load_strategy(session: AsyncSession, strategy_id: str, *, lock: bool = False) -> Strategy:
    """The strategy with its tree; `lock` holds its row until the transaction
    ends, so that revisions of its action plan take turns (and a stale one gets 412, not a
    clash)."""
    strategy = await session.get(
        Strategy,
        strategy_id,
        with_for_update=lock,
        options=[selectinload(Strategy.nodes)],
    )
    if strategy is None:
        raise NotFound(f"no strategy with id {strategy_id}")
    return strategy


class Strategies:
    """The strategies of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_change(self, strategy_id: str) -> Strategy:
        return await load_strategy(self.session, strategy_id, lock=True)

    async def add(self, strategy: Strategy, tree: list[dict]) -> None:
        """A new strategy, and the rows of its tree (`Strategy.plant`) in one statement."""
        self.session.add(strategy)
        if tree:  # (the statement flushes the strategy first)
            await self.session.execute(insert(StrategyNode), tree)
