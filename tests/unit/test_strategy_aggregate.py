"""The strategy aggregate and its commands, in memory: no database, no broker.

Silkeborg's strategy plan 2013–2014 (DOMAIN.md, case C): five focus areas, tracks under them,
sub-tracks under those, and an action plan revised once a year.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from scripts.demo_data import ACTION_PLAN_2013, ACTION_PLAN_2014, SILKEBORG
from services.planning.strategies import commands, schemas
from services.planning.strategies.model import Strategy
from shared.auth import Principal
from shared.errors import NotFound, PreconditionFailed, RuleViolation

NOW = datetime(2013, 1, 7, 9, tzinfo=UTC)
PLANNER = Principal(subject="kommunikation@silkeborg.dk", name="K", roles=frozenset({"planner"}))
FIELDS = {k: v for k, v in SILKEBORG.items() if k != "focus_areas"}


def silkeborg() -> Strategy:
    """The strategy with its tree as the aggregate holds it once stored."""
    cmd = schemas.StrategyCreate.model_validate(SILKEBORG)
    strategy = Strategy.create(cmd.model_dump(exclude={"focus_areas"}), NOW)
    planted: dict[str | None, str] = {}  # a planted row's id: its node's
    for row in strategy.plant(cmd.focus_areas):
        node = strategy.add_node(planted.get(row["parent_id"]), row["name"], row["description"])
        planted[row["id"]] = node.id
    return strategy


def names_depth_first(trees: list[dict]) -> Iterator[str]:
    for tree in trees:
        yield tree["name"]
        yield from names_depth_first(tree.get("children", []))


def items(strategy: Strategy, rows: list[tuple[str, str, str]]) -> list[dict]:
    ids = {node.name: node.id for node in strategy.nodes}
    return [
        {"track_id": ids[track], "initiative": initiative, "success_criterion": criterion}
        for track, initiative, criterion in rows
    ]


def revise(strategy: Strategy, year: int, rows: list[dict], expected: set[int] | None = None):  # type: ignore[no-untyped-def]
    return strategy.revise_action_plan(
        year,
        rows,
        "",
        by=PLANNER.subject,
        at=NOW,
        expected=None if expected is None else frozenset(expected),
    )


# --- the strategy and its tree ------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2014, 12, 31), date(2013, 1, 1), "must be after period_start"),
        (date(2013, 1, 1), date(2019, 1, 1), "a strategy runs at most 5 years"),
    ],
)
def test_a_strategy_runs_a_sensible_period(start: date, end: date, message: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        Strategy.create({**FIELDS, "period_start": start, "period_end": end}, NOW)
    assert caught.value.errors == [{"field": "period_end", "message": message}]


def test_a_tree_is_planted_depth_first_focus_area_track_sub_track() -> None:
    cmd = schemas.StrategyCreate.model_validate(SILKEBORG)
    strategy = Strategy.create(cmd.model_dump(exclude={"focus_areas"}), NOW)
    rows = strategy.plant(cmd.focus_areas)
    by_id = {row["id"]: row for row in rows}
    assert [row["position"] for row in rows] == list(range(len(rows)))
    assert {row["strategy_id"] for row in rows} == {strategy.id}
    for row in rows:
        parent = by_id.get(row["parent_id"])
        expected = {None: "focus_area", "focus_area": "track", "track": "sub_track"}
        assert row["level"] == expected[parent["level"] if parent else None]
        if parent:  # depth first: a node comes after its parent
            assert parent["position"] < row["position"]
    focus_areas = [row["name"] for row in rows if row["parent_id"] is None]
    assert focus_areas == [f["name"] for f in SILKEBORG["focus_areas"]]


def test_a_tree_deeper_than_sub_tracks_is_refused_where_it_goes_too_deep() -> None:
    too_deep = {
        "name": "A",
        "children": [{"name": "B", "children": [{"name": "C", "children": [{"name": "D"}]}]}],
    }
    cmd = schemas.StrategyCreate.model_validate(
        {**SILKEBORG, "focus_areas": [{"name": "X"}, too_deep]}
    )
    strategy = Strategy.create(
        FIELDS | {"period_start": cmd.period_start, "period_end": cmd.period_end}, NOW
    )
    with pytest.raises(RuleViolation) as caught:
        strategy.plant(cmd.focus_areas)
    assert caught.value.errors[0]["field"] == "focus_areas[1].children[0].children[0].children[0]"


def test_a_node_goes_under_a_parent_of_its_own_strategy_down_to_sub_tracks() -> None:
    strategy, other = silkeborg(), silkeborg()
    track = next(n for n in strategy.nodes if n.name == "Videndeling")
    sub_track = strategy.add_node(track.id, "Sociale medier", "")
    assert (sub_track.level, sub_track.position) == ("sub_track", len(strategy.nodes) - 1)
    with pytest.raises(RuleViolation) as too_deep:
        strategy.add_node(sub_track.id, "LinkedIn", "")
    assert too_deep.value.errors == [
        {"field": "parent_id", "message": "a sub-track cannot have children"}
    ]
    with pytest.raises(RuleViolation) as elsewhere:
        other.add_node(track.id, "Sociale medier", "")
    assert elsewhere.value.errors[0]["field"] == "parent_id"
    assert strategy.add_node(None, "Sundhed", "").level == "focus_area"
    assert strategy.nodes[-1].name == "Sundhed"


# --- the action plan ----------------------------------------------------------------------


def test_each_revision_is_the_next_version_and_the_earlier_ones_stay() -> None:
    strategy = silkeborg()
    first = revise(strategy, 2013, items(strategy, ACTION_PLAN_2013), expected={0})
    second = revise(strategy, 2014, items(strategy, ACTION_PLAN_2014), expected={1})
    assert (first.version, second.version, strategy.action_plan_version) == (1, 2, 2)
    assert (first.year, len(first.items)) == (2013, len(ACTION_PLAN_2013))
    assert first.items != second.items


def test_a_revision_made_to_a_stale_version_is_refused_and_counts_nothing() -> None:
    strategy = silkeborg()
    revise(strategy, 2013, items(strategy, ACTION_PLAN_2013))
    with pytest.raises(PreconditionFailed, match="at version 1, not 0"):
        revise(strategy, 2014, items(strategy, ACTION_PLAN_2014), expected={0})
    assert strategy.action_plan_version == 1


def test_a_revision_is_for_a_year_of_the_strategy_and_its_own_tracks_once_each() -> None:
    strategy, other = silkeborg(), silkeborg()
    mine = items(strategy, ACTION_PLAN_2013)
    with pytest.raises(RuleViolation, match="outside the strategy's period"):
        revise(strategy, 2015, mine)
    with pytest.raises(RuleViolation) as foreign:
        revise(strategy, 2013, [*mine, items(other, ACTION_PLAN_2013)[0]])
    assert foreign.value.errors == [
        {"field": f"items[{len(mine)}].track_id", "message": "not in this strategy"}
    ]
    with pytest.raises(RuleViolation, match="appears twice"):
        revise(strategy, 2013, [*mine, mine[0]])
    assert strategy.action_plan_version == 0


# --- the commands, with a unit of work in memory --------------------------------------------


class FakeStrategies:
    def __init__(self) -> None:
        self.stored: dict[str, Strategy] = {}
        self.trees: dict[str, list[dict]] = {}

    async def get_for_change(self, strategy_id: str) -> Strategy:
        if strategy_id not in self.stored:
            raise NotFound(f"no strategy with id {strategy_id}")
        return self.stored[strategy_id]

    async def add(self, strategy: Strategy, tree: list[dict]) -> None:
        self.stored[strategy.id] = strategy
        self.trees[strategy.id] = tree


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.strategies = FakeStrategies()
        self.commits = 0

    async def __aenter__(self) -> FakeUnitOfWork:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        pass

    def now(self) -> datetime:
        return NOW

    async def commit(self) -> None:
        self.commits += 1


async def test_a_strategy_is_stored_with_its_tree_in_one_commit() -> None:
    uow = FakeUnitOfWork()
    strategy_id = await commands.create_strategy(
        uow,  # type: ignore[arg-type]
        schemas.StrategyCreate.model_validate(SILKEBORG),
    )
    stored = uow.strategies.stored[strategy_id]
    assert (stored.name, stored.created_at, stored.action_plan_version) == (
        SILKEBORG["name"],
        NOW,
        0,
    )
    names = [row["name"] for row in uow.strategies.trees[strategy_id]]
    assert names == list(names_depth_first(SILKEBORG["focus_areas"]))
    assert uow.commits == 1


async def test_commands_change_the_stored_strategy_and_commit_once_each() -> None:
    uow = FakeUnitOfWork()
    strategy = silkeborg()
    uow.strategies.stored[strategy.id] = strategy
    track = next(n for n in strategy.nodes if n.name == "Videndeling")
    node = await commands.add_node(
        uow,  # type: ignore[arg-type]
        strategy.id,
        schemas.NodeCreate(parent_id=track.id, name="Sociale medier"),
    )
    revision = await commands.revise_action_plan(
        uow,  # type: ignore[arg-type]
        strategy.id,
        schemas.ActionPlanRevise.model_validate(
            {"year": 2013, "note": "Første år", "items": items(strategy, ACTION_PLAN_2013)}
        ),
        PLANNER,
        frozenset({0}),
    )
    assert strategy.nodes[-1] is node and node.level == "sub_track"
    assert (revision.version, revision.note, revision.revised_by) == (
        1,
        "Første år",
        PLANNER.subject,
    )
    assert uow.commits == 2


async def test_a_refused_revision_commits_nothing() -> None:
    uow = FakeUnitOfWork()
    strategy = silkeborg()
    uow.strategies.stored[strategy.id] = strategy
    stale = schemas.ActionPlanRevise.model_validate(
        {"year": 2013, "items": items(strategy, ACTION_PLAN_2013)}
    )
    with pytest.raises(PreconditionFailed):
        await commands.revise_action_plan(uow, strategy.id, stale, PLANNER, frozenset({3}))  # type: ignore[arg-type]
    assert (uow.commits, strategy.action_plan_version) == (0, 0)
