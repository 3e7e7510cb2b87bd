"""The strategy aggregate: a strategy, its tree of focus areas, tracks and sub-tracks, and the
versions of its yearly action plan, with the rules of changing them (DOMAIN.md, case C).

Nothing here touches the database, so the rules are tested on strategies built in memory;
`repository` reads and stores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from services.planning import domain
from services.planning.domain import NodeLevel
from services.planning.tables import Base
from shared.db import UtcDateTime
from shared.errors import PreconditionFailed, RuleViolation
from shared.ids import new_id


class Tree(Protocol):
    """A node with the nodes under it, as a strategy is first given."""

    name: str
    description: str

    @property
    def children(self) -> Sequence[Tree]: ...


class StrategyNode(Base):
    """A focus area, track or sub-track of a strategy."""

    __tablename__ = "strategy_nodes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(ForeignKey("strategies.id"), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("strategy_nodes.id"))
    level: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)


class ActionPlanVersion(Base):
    """One revision of a strategy's action plan: the year it is for and its initiatives per
    track. Revisions are never changed; the next one gets the next version number."""

    __tablename__ = "action_plan_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    strategy_id: Mapped[str] = mapped_column(ForeignKey("strategies.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    items: Mapped[list] = mapped_column(JSON)
    revised_by: Mapped[str] = mapped_column(String(200))
    revised_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Strategy(Base):
    """A communication strategy: vision, values, a period of a few years, its tree, and its
    action plan, revised year by year."""

    __tablename__ = "strategies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    organisation: Mapped[str] = mapped_column(String(200))
    vision: Mapped[str] = mapped_column(Text)
    values: Mapped[list] = mapped_column(JSON)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # the latest version of the action plan (0: none yet); revisions are numbered from it
    action_plan_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    nodes: Mapped[list[StrategyNode]] = relationship(order_by="StrategyNode.position")
    # only added to here: the versions are read by queries, never loaded with the strategy
    action_plans: WriteOnlyMapped[ActionPlanVersion] = relationship()

    @classmethod
    def create(cls, fields: dict, at: datetime) -> Strategy:
        """A new strategy, without a tree yet (`fields`: name, organisation, vision, values,
        period)."""
        domain.check_period(
            fields["period_start"], fields["period_end"], max_years=domain.MAX_STRATEGY_YEARS
        )
        strategy = cls(id=new_id(), created_at=at, action_plan_version=0, **fields)
        strategy.nodes = []  # empty, not unloaded: a new strategy's tree is never read back
        return strategy

    def plant(self, trees: Sequence[Tree]) -> list[dict]:
        """The rows of a new strategy's tree, depth first and numbered in that order.

        Plain rows for the repository to insert in one statement: hundreds of ORM objects
        would hold the event loop (and every other request, /healthz too) for tens of
        milliseconds."""
        rows: list[dict] = []

        def grow(trees: Sequence[Tree], parent: dict | None, path: str) -> None:
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
                    "strategy_id": self.id,
                    "parent_id": parent["id"] if parent else None,
                    "level": level,
                    "name": tree.name,
                    "description": tree.description,
                    "position": len(rows),
                }
                rows.append(row)
                grow(tree.children, row, f"{where}.children")

        grow(trees, None, "focus_areas")
        return rows

    def add_node(self, parent_id: str | None, name: str, description: str) -> StrategyNode:
        """A focus area (no parent), a track under a focus area or a sub-track under a track,
        last in the tree's order."""
        parent = None
        if parent_id is not None:
            parent = next((n for n in self.nodes if n.id == parent_id), None)
            if parent is None:
                raise RuleViolation(
                    f"{parent_id} is not part of this strategy",
                    errors=[{"field": "parent_id", "message": "not part of this strategy"}],
                )
        node = StrategyNode(
            id=new_id(),
            strategy_id=self.id,
            parent_id=parent_id,
            level=domain.child_level(NodeLevel(parent.level) if parent else None),
            name=name,
            description=description,
            position=len(self.nodes),
        )
        self.nodes.append(node)
        return node

    def revise_action_plan(
        self,
        year: int,
        items: list[dict],
        note: str,
        *,
        by: str,
        at: datetime,
        expected: frozenset[int] | None,
    ) -> ActionPlanVersion:
        """The next version of the action plan: a year of the strategy's period, initiatives
        under its own tracks, once each per track, made to the version its maker saw
        (If-Match; None: any). The earlier versions stay as they were."""
        domain.check_action_plan_year(year, self.period_start, self.period_end)
        nodes = {n.id for n in self.nodes}
        for i, item in enumerate(items):
            if item["track_id"] not in nodes:
                raise RuleViolation(
                    f"{item['track_id']} is not part of this strategy",
                    errors=[{"field": f"items[{i}].track_id", "message": "not in this strategy"}],
                )
        domain.check_unique_items(items)
        if expected is not None and self.action_plan_version not in expected:
            seen = " or ".join(str(v) for v in sorted(expected))
            raise PreconditionFailed(
                f"the action plan is at version {self.action_plan_version}, not {seen}:"
                " reload and retry"
            )
        self.action_plan_version += 1
        revision = ActionPlanVersion(
            id=new_id(),
            strategy_id=self.id,
            version=self.action_plan_version,
            year=year,
            note=note,
            items=items,
            revised_by=by,
            revised_at=at,
        )
        self.action_plans.add(revision)
        return revision
