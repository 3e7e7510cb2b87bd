"""Strategies, their tree and their yearly action plans (versions and diff), as a client meets
them over HTTP, written from the OpenAPI document and README.md only. The strategy is Silkeborg
Kommune's (DOMAIN.md, case C)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.api import (
    assert_problem,
)
from tests.factories import PLANNER
from tests.planning_world import (
    ANALYST,
    BRANDING,
    DIALOGUE,
    MESTRING,
    SILKEBORG,
    World,
    all_nodes,
    assert_names,
    create,
    create_strategy,
    field_path,
    node,
    ok,
    plan_2013,
    plan_2014,
    read,
    revise,
    strategy_state,
    total,
    versions_of,
)

pytestmark = pytest.mark.integration


# --- strategies and their tree --------------------------------------------------------------


async def test_a_strategy_is_created_with_its_whole_tree(planning_db: httpx.AsyncClient) -> None:
    response = await planning_db.post("/v1/strategies", json=SILKEBORG, headers=PLANNER)

    created = ok(response, 201)
    assert response.headers["location"].endswith(f"/v1/strategies/{created['id']}")
    fetched = await read(planning_db, response.headers["location"])
    assert fetched == created
    scalars = ("name", "organisation", "vision", "values", "period_start", "period_end")
    assert {k: fetched[k] for k in scalars} == {k: SILKEBORG[k] for k in scalars}
    assert fetched["action_plan_version"] is None
    assert [f["name"] for f in fetched["focus_areas"]] == [
        "Strategisk kommunikation",
        "Digitalisering",
    ]
    communication = fetched["focus_areas"][0]
    assert (communication["level"], communication["parent_id"]) == ("focus_area", None)
    assert communication["description"] == "Det femte indsatsområde"
    assert [(t["name"], t["level"], t["parent_id"]) for t in communication["children"]] == [
        (MESTRING, "track", communication["id"]),
        (DIALOGUE, "track", communication["id"]),
        (BRANDING, "track", communication["id"]),
    ]
    dialogue = communication["children"][1]
    assert [
        (s["name"], s["level"], s["parent_id"], s["children"]) for s in dialogue["children"]
    ] == [
        ("Digitale kanaler", "sub_track", dialogue["id"], []),
        ("Temamøder", "sub_track", dialogue["id"], []),
    ]
    assert len({n["id"] for n in all_nodes(fetched)}) == 8


async def test_a_strategy_without_a_tree_is_created_empty(planning: httpx.AsyncClient) -> None:
    body = {k: v for k, v in SILKEBORG.items() if k not in ("focus_areas", "values")}
    created = await create_strategy(planning, body)
    assert created["focus_areas"] == [] and created["values"] == []


async def test_strategies_are_listed_in_pages_that_cover_each_once(
    planning: httpx.AsyncClient,
) -> None:
    made = [await create_strategy(planning, {**SILKEBORG, "focus_areas": []}) for _ in range(5)]

    seen: list[str] = []
    for offset in (0, 2, 4):
        page = await read(planning, "/v1/strategies", limit=2, offset=offset)
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        assert all("focus_areas" not in s for s in page["items"])  # summaries
        seen += [s["id"] for s in page["items"]]
    assert sorted(seen) == sorted(s["id"] for s in made)
    default = await read(planning, "/v1/strategies")
    assert (default["limit"], default["offset"], len(default["items"])) == (50, 0, 5)


async def test_an_unknown_strategy_is_a_404_problem_on_every_route(world: World) -> None:
    base = f"/v1/strategies/{uuid.uuid4()}"
    for method, path, body in [
        ("GET", "", None),
        ("POST", "/nodes", {"name": "Sundhed"}),
        ("GET", "/action-plan", None),
        ("GET", "/action-plan/versions", None),
        ("POST", "/action-plan/versions", {"year": 2013, "items": []}),
        ("GET", "/action-plan/versions/1", None),
        ("GET", "/action-plan/diff?from_version=1&to_version=2", None),
    ]:
        response = await world.client.request(method, base + path, json=body, headers=PLANNER)
        assert_problem(response, 404)


BAD_STRATEGIES = {
    "no name": ({"name": None}, "name"),
    "empty vision": ({"vision": ""}, "vision"),
    "no organisation": ({"organisation": None}, "organisation"),
    "a value too long": ({"values": ["Dialog", "x" * 101]}, "values.1"),
    "not a date": ({"period_start": "2013-13-01"}, "period_start"),
    "period ends first": ({"period_start": "2014-12-31", "period_end": "2013-01-01"}, "period_end"),
    "over five years": ({"period_start": "2013-01-01", "period_end": "2019-12-31"}, "period_end"),
    "unnamed track": (
        {"focus_areas": [{"name": "A", "children": [{"name": ""}]}]},
        "focus_areas.0.children.0.name",
    ),
    "21 focus areas": ({"focus_areas": [{"name": f"F{i}"} for i in range(21)]}, "focus_areas"),
    "unknown field": ({"colour": "blå"}, "colour"),
}


@pytest.mark.parametrize("case", BAD_STRATEGIES.values(), ids=BAD_STRATEGIES.keys())
async def test_a_bad_strategy_is_a_422_naming_the_field_and_creates_nothing(
    world: World, case: tuple[dict, str]
) -> None:
    changes, field = case
    body = {k: v for k, v in {**SILKEBORG, **changes}.items() if v is not None}
    before = await total(world.client, "/v1/strategies")

    response = await world.client.post("/v1/strategies", json=body, headers=PLANNER)

    assert_names(response, field)
    assert await total(world.client, "/v1/strategies") == before


TOO_DEEP = {
    "name": "Strategisk kommunikation",
    "children": [
        {
            "name": MESTRING,
            "children": [{"name": "Skriv klart", "children": [{"name": "Kommaregler"}]}],
        }
    ],
}


async def test_a_tree_below_sub_tracks_is_a_422_naming_the_nested_children(world: World) -> None:
    before = await total(world.client, "/v1/strategies")

    response = await world.client.post(
        "/v1/strategies", json={**SILKEBORG, "focus_areas": [TOO_DEEP]}, headers=PLANNER
    )

    assert await total(world.client, "/v1/strategies") == before
    problem = assert_problem(response, 422)
    fields = [field_path(e["field"]) for e in problem.get("errors") or []]
    assert any(f.startswith("focus_areas.0.children.0.children.0") for f in fields), problem


async def test_nodes_are_added_as_focus_area_track_and_sub_track(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    url = f"/v1/strategies/{strategy['id']}/nodes"

    async def add(name: str, parent: dict | None) -> dict:
        return await create(planning_db, url, {"name": name, "parent_id": parent and parent["id"]})

    health = await add("Sundhed", None)
    prevention = await add("Forebyggelse", health)
    campaigns = await add("Kampagner", prevention)
    social = await add("Sociale medier", node(strategy, BRANDING))

    assert (health["level"], health["parent_id"]) == ("focus_area", None)
    assert (prevention["level"], prevention["parent_id"]) == ("track", health["id"])
    assert (campaigns["level"], campaigns["parent_id"]) == ("sub_track", prevention["id"])
    assert (social["level"], social["name"]) == ("sub_track", "Sociale medier")
    fetched = await strategy_state(planning_db, strategy["id"])
    assert fetched["focus_areas"][-1]["id"] == health["id"]
    assert [c["id"] for c in node(fetched, "Forebyggelse")["children"]] == [campaigns["id"]]
    assert [c["id"] for c in node(fetched, BRANDING)["children"]] == [social["id"]]


async def test_a_node_with_a_bad_parent_is_a_422_naming_parent_id_and_adds_nothing(
    world: World,
) -> None:
    other = await create_strategy(world.client, {**SILKEBORG, "name": "Kanalstrategi"})
    url = f"/v1/strategies/{world.strategy['id']}/nodes"
    before = await strategy_state(world.client, world.strategy["id"])

    for parent_id in [
        world.node("Skriv klart")["id"],  # below a sub-track
        str(uuid.uuid4()),  # no such node: it is in the body, so 422, not 404
        node(other, BRANDING)["id"],  # another strategy's
    ]:
        body = {"name": "Sociale medier", "parent_id": parent_id}
        assert_names(await world.client.post(url, json=body, headers=PLANNER), "parent_id")
    assert_names(await world.client.post(url, json={"name": ""}, headers=PLANNER), "name")

    assert await strategy_state(world.client, world.strategy["id"]) == before


# --- the action plan: versions and diff ------------------------------------------------------


async def test_each_revision_of_the_action_plan_is_a_new_version_and_old_ones_stay(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    url = f"/v1/strategies/{strategy['id']}/action-plan"
    assert_problem(await planning_db.get(url, headers=ANALYST), 404)
    assert await read(planning_db, f"{url}/versions") == []

    first = await revise(planning_db, strategy, plan_2013(strategy), 0)

    v1 = ok(first, 201)
    assert first.headers["location"].endswith(f"{url}/versions/1")
    assert first.headers["etag"] == '"1"'
    assert (v1["version"], v1["year"], v1["note"], v1["revised_by"]) == (
        1,
        2013,
        "Handlingsplan 2013",
        "tester",
    )
    assert [(i["initiative"], i["owner"]) for i in v1["items"][:2]] == [
        ("Lederkommunikation", "Kommunikationsafdelingen"),
        ("Intranet-redaktion", ""),
    ]
    assert await read(planning_db, first.headers["location"]) == v1

    v2 = ok(await revise(planning_db, strategy, plan_2014(strategy), 1), 201)

    current = await planning_db.get(url, headers=ANALYST)
    assert ok(current) == v2 and current.headers.get("etag") == '"2"'
    versions = await read(planning_db, f"{url}/versions")
    assert [v["version"] for v in versions] == [1, 2]
    assert versions[0] == v1 == await read(planning_db, f"{url}/versions/1")  # kept unchanged
    assert (await strategy_state(planning_db, strategy["id"]))["action_plan_version"] == 2


async def test_a_revision_against_another_version_is_a_412_problem_and_changes_nothing(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    ok(await revise(planning_db, strategy, plan_2013(strategy), 0), 201)

    for seen in ['"0"', '"2"', 'W/"1"', "1.0"]:  # older, newer, weak, not an ETag
        assert_problem(await revise(planning_db, strategy, plan_2014(strategy), seen), 412)

    assert await versions_of(planning_db, strategy) == [1]
    url = f"/v1/strategies/{strategy['id']}/action-plan"
    current = (await planning_db.get(url, headers=ANALYST)).headers["etag"]
    revised = ok(await revise(planning_db, strategy, plan_2014(strategy), current), 201)
    assert revised["version"] == 2


async def test_concurrent_revisions_of_the_same_version_make_one_and_412_the_rest(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    ok(await revise(planning_db, strategy, plan_2013(strategy), 0), 201)

    statuses = []
    for seen in range(1, 6):  # a race is a matter of timing: run it several times
        racing = [revise(planning_db, strategy, plan_2014(strategy), seen) for _ in range(6)]
        statuses.append(sorted(r.status_code for r in await asyncio.gather(*racing)))

    assert await versions_of(planning_db, strategy) == [1, 2, 3, 4, 5, 6]
    assert statuses == [[201] + [412] * 5] * 5


async def test_a_bad_revision_is_a_422_naming_the_field_and_changes_nothing(world: World) -> None:
    other = await create_strategy(world.client, {**SILKEBORG, "name": "Kanalstrategi"})
    url = f"/v1/strategies/{world.strategy['id']}/action-plan/versions"
    before = await read(world.client, url)
    item = {"track_id": world.node(MESTRING)["id"], "initiative": "Medietræning"}
    foreign = {**item, "track_id": node(other, "Skriv klart")["id"]}
    cases = [
        ({"year": 2014, "items": [{**item, "track_id": str(uuid.uuid4())}]}, "items.0.track_id"),
        ({"year": 2014, "items": [item, foreign]}, "items.1.track_id"),
        ({"year": 2014, "items": [item, {"track_id": item["track_id"]}]}, "items.1.initiative"),
        ({"year": 2014, "items": [{**item, "initiative": ""}]}, "items.0.initiative"),
        ({"year": 2014, "items": [item, {**item, "owner": "HR"}]}, "items.1.initiative"),
        ({"year": 1899, "items": []}, "year"),
        ({"year": 2014}, "items"),
        ({"year": 2014, "items": [], "status": "final"}, "status"),
    ]

    for body, field in cases:
        assert_names(await revise(world.client, world.strategy, body, 2), field)

    assert await read(world.client, url) == before


async def test_the_action_plan_diff_matches_initiatives_by_track_and_name(world: World) -> None:
    url = f"/v1/strategies/{world.strategy['id']}/action-plan/diff"

    diff = await read(world.client, url, from_version=1, to_version=2)

    def keys(items: list[dict]) -> set[tuple[str, str]]:
        return {(i["track_id"], i["initiative"]) for i in items}

    mestring, dialogue = world.node(MESTRING)["id"], world.node(DIALOGUE)["id"]
    branding, channels = world.node(BRANDING)["id"], world.node("Digitale kanaler")["id"]
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert keys(diff["added"]) == {
        (mestring, "Medietræning"),
        (branding, "Synlighed i lokale medier"),  # renamed: removed and added
        (dialogue, "Digital Post til alle"),  # moved to another node: removed and added
    }
    assert keys(diff["removed"]) == {
        (mestring, "Intranet-redaktion"),
        (branding, "Synlighed i medierne"),
        (channels, "Digital Post til alle"),
    }
    [changed] = diff["changed"]  # "Borgerpanel" did not change
    assert (changed["item"]["track_id"], changed["item"]["initiative"]) == (
        mestring,
        "Lederkommunikation",
    )
    assert changed["fields"] == {
        "owner": {"before": "Kommunikationsafdelingen", "after": "HR og Kommunikation"},
        "success_criterion": {
            "before": "Alle ledere er trænet",
            "after": "74 % af lederne er tilfredse",
        },
    }


async def test_the_action_plan_diff_backwards_swaps_added_and_removed(world: World) -> None:
    url = f"/v1/strategies/{world.strategy['id']}/action-plan/diff"
    forward = await read(world.client, url, from_version=1, to_version=2)

    backward = await read(world.client, url, from_version=2, to_version=1)
    same = await read(world.client, url, from_version=2, to_version=2)

    def keys(items: list[dict]) -> list[tuple[str, str]]:
        return sorted((i["track_id"], i["initiative"]) for i in items)

    assert keys(backward["added"]) == keys(forward["removed"])
    assert keys(backward["removed"]) == keys(forward["added"])
    assert backward["changed"][0]["fields"]["owner"] == {
        "before": "HR og Kommunikation",
        "after": "Kommunikationsafdelingen",
    }
    assert (same["added"], same["removed"], same["changed"]) == ([], [], [])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from_version": 0, "to_version": 2}, "from_version"),
        ({"from_version": 1}, "to_version"),
        ({"from_version": "one", "to_version": 2}, "from_version"),
    ],
)
async def test_a_diff_with_bad_version_numbers_is_a_422_naming_them(
    world: World, params: dict, field: str
) -> None:
    url = f"/v1/strategies/{world.strategy['id']}/action-plan/diff"
    assert_names(await world.client.get(url, params=params, headers=ANALYST), field)


async def test_versions_that_do_not_exist_are_problems_not_empty_answers(world: World) -> None:
    url = f"/v1/strategies/{world.strategy['id']}/action-plan"
    assert_problem(await world.client.get(f"{url}/versions/3", headers=ANALYST), 404)
    assert_names(await world.client.get(f"{url}/versions/0", headers=ANALYST), "version")
    diff = await world.client.get(f"{url}/diff?from_version=1&to_version=3", headers=ANALYST)
    assert_problem(diff, 404)
    assert_problem(diff, diff.status_code)
