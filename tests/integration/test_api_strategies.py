"""Strategies, partners, plan versions and the calendar, as a client meets them over HTTP.

Written from the OpenAPI document and README.md only: status codes, Location and ETag
headers, If-Match, problem details naming the field, 404 for an unknown id in the path and
422 for one in the body, roles, paging bounds, Idempotency-Key on creates, the documented
diff semantics, recurring activities on the calendar and in the iCal feed, and changes to
approved plans. The strategy is Silkeborg Kommune's (DOMAIN.md, case C), the plans Aarhus
Kommune's "Kommune forfra" (case A) with its partners, and the monthly news from top
management (case B) is the recurring activity.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from tests.api import (
    BAD_CREDENTIALS,
    assert_problem,
    assert_unauthorized,
    backend_url,
    bearer,
    sqlite_url,
)
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import auth, serving, token
from tests.services import planning_app

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")
ADMIN = auth("admin")
READERS = ["analyst", "event_manager", "communicator", "planner", "admin"]
NON_WRITERS = ["analyst", "event_manager", "communicator", "viewer"]
NOTHING = {"added": [], "removed": [], "changed": []}

SILKEBORG: dict[str, Any] = {
    "name": "Strategiplan 2013–2014",
    "organisation": "Silkeborg Kommune",
    "vision": "Silkeborg Kommune er anerkendt som en synlig, kompetent og innovativ kommune",
    "values": ["Dialog", "Dynamik", "Kvalitet", "Sammenhæng"],
    "period_start": "2013-01-01",
    "period_end": "2014-12-31",
    "focus_areas": [
        {
            "name": "Strategisk kommunikation",
            "description": "Det femte indsatsområde",
            "children": [
                {"name": "Kommunikations-Mestring", "children": [{"name": "Skriv klart"}]},
                {
                    "name": "Borgerdialog og borgerinddragelse",
                    "children": [{"name": "Digitale kanaler"}, {"name": "Temamøder"}],
                },
                {"name": "Organisatorisk branding"},
            ],
        },
        {"name": "Digitalisering"},
    ],
}

MONTHLY_NEWS = {  # case B: news from top management at least monthly
    "title": "Nyt fra direktionen",
    "kind": "communication",
    "owner": "Kommunikationsafdelingen",
    "starts_at": "2015-11-04T08:00:00+01:00",
    "recurrence": "FREQ=MONTHLY;COUNT=5",
}
# All in winter time, so the instants do not depend on how daylight saving is treated (not
# documented): 08:00 in Denmark is 07:00 UTC on each of them.
MONTHLY_AT = [
    datetime.fromisoformat(f"{day}T07:00:00+00:00")
    for day in ("2015-11-04", "2015-12-04", "2016-01-04", "2016-02-04", "2016-03-04")
]


# --- helpers ---------------------------------------------------------------------------------


def field_path(field: str) -> str:
    """`body.items.0.track_id` and `items[0].track_id` both read `items.0.track_id`."""
    path = re.sub(r"\[(\d+)\]", r".\1", field)
    for prefix in ("body.", "query.", "path.", "header."):
        path = path.removeprefix(prefix)
    return path


def assert_names(response: httpx.Response, *paths: str, status: int = 422) -> dict[str, Any]:
    """A problem whose `errors[].field` names each of `paths` (in either usual spelling)."""
    problem = assert_problem(response, status)
    fields = {field_path(error.get("field", "")) for error in problem.get("errors") or []}
    for path in paths:
        assert path in fields, f"no error names {path!r}: {problem}"
    return problem


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    return response.json()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def node(strategy: dict, name: str) -> dict:
    stack = list(strategy["focus_areas"])
    while stack:
        found = stack.pop()
        if found["name"] == name:
            return found
        stack += found["children"]
    raise KeyError(name)


def all_nodes(strategy: dict) -> list[dict]:
    found, stack = [], list(strategy["focus_areas"])
    while stack:
        current = stack.pop()
        found.append(current)
        stack += current["children"]
    return found


def refs(made: dict) -> dict[str, str]:
    return {
        "audience_id": made["audience"]["id"],
        "message_id": made["message"]["id"],
        "channel_id": made["channel"]["id"],
    }


async def read(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    return ok(await client.get(url, params=params, headers=ANALYST))


async def create(client: httpx.AsyncClient, url: str, body: dict, **headers: str) -> Any:
    return ok(await client.post(url, json=body, headers={**PLANNER, **headers}), 201)


async def change(client: httpx.AsyncClient, plan_id: str, body: dict, **headers: str) -> Any:
    return ok(await client.patch(f"/v1/plans/{plan_id}", json=body, headers={**PLANNER, **headers}))


async def total(client: httpx.AsyncClient, url: str) -> int:
    return (await read(client, url))["total"]


async def plan_state(client: httpx.AsyncClient, plan_id: str) -> tuple[dict, str]:
    response = await client.get(f"/v1/plans/{plan_id}", headers=PLANNER)
    return ok(response), response.headers.get("etag", "")


async def strategy_state(client: httpx.AsyncClient, strategy_id: str) -> dict:
    return await read(client, f"/v1/strategies/{strategy_id}")


async def calendar(client: httpx.AsyncClient, **params: Any) -> list[dict]:
    return await read(client, "/v1/calendar", **params)


async def ical(client: httpx.AsyncClient, **params: Any) -> icalendar.Calendar:
    response = await client.get("/v1/calendar.ics", params=params, headers=ANALYST)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def vevents(feed: icalendar.Calendar) -> list[tuple[datetime, str]]:
    return sorted(
        (event.decoded("dtstart"), str(event["summary"])) for event in feed.walk("VEVENT")
    )


def occurrences(entries: list[dict]) -> list[tuple[datetime, str]]:
    return sorted((at(entry["starts_at"]), entry["title"]) for entry in entries)


async def create_strategy(client: httpx.AsyncClient, body: dict | None = None) -> dict:
    return await create(client, "/v1/strategies", body or SILKEBORG)


async def create_partner(client: httpx.AsyncClient, name: str, kind: str = "") -> dict:
    return await create(client, "/v1/partners", {"name": name, "kind": kind})


async def add_activity(client: httpx.AsyncClient, made: dict, **fields: Any) -> dict:
    body = {**MONTHLY_NEWS, **refs(made), **fields}
    return await create(client, f"/v1/plans/{made['plan']['id']}/activities", body)


def revise(client: httpx.AsyncClient, strategy: dict, body: dict, seen: int | str):  # type: ignore[no-untyped-def]
    """POST a revision of the action plan, having seen version `seen`."""
    url = f"/v1/strategies/{strategy['id']}/action-plan/versions"
    if_match = f'"{seen}"' if isinstance(seen, int) else seen
    return client.post(url, json=body, headers={**PLANNER, "If-Match": if_match})


async def versions_of(client: httpx.AsyncClient, strategy: dict) -> list[int]:
    url = f"/v1/strategies/{strategy['id']}/action-plan/versions"
    return [v["version"] for v in await read(client, url)]


def action_plan(strategy: dict, year: int, *items: tuple[str, str, dict]) -> dict:
    """(node name, initiative, other fields) per item."""
    return {
        "year": year,
        "note": f"Handlingsplan {year}",
        "items": [
            {"track_id": node(strategy, track)["id"], "initiative": initiative, **more}
            for track, initiative, more in items
        ],
    }


MESTRING, DIALOGUE, BRANDING = (
    "Kommunikations-Mestring",
    "Borgerdialog og borgerinddragelse",
    "Organisatorisk branding",
)


def plan_2013(strategy: dict) -> dict:
    return action_plan(
        strategy,
        2013,
        (
            MESTRING,
            "Lederkommunikation",
            {"owner": "Kommunikationsafdelingen", "success_criterion": "Alle ledere er trænet"},
        ),
        (MESTRING, "Intranet-redaktion", {}),
        (DIALOGUE, "Borgerpanel", {"owner": "Borgerservice"}),
        (BRANDING, "Synlighed i medierne", {}),
        ("Digitale kanaler", "Digital Post til alle", {"description": "Obligatorisk fra 2015"}),
    )


def plan_2014(strategy: dict) -> dict:
    """Against 2013: one initiative changed in two fields, one unchanged, one dropped, one
    renamed, one moved to another node, one new."""
    return action_plan(
        strategy,
        2014,
        (
            MESTRING,
            "Lederkommunikation",
            {"owner": "HR og Kommunikation", "success_criterion": "74 % af lederne er tilfredse"},
        ),
        (DIALOGUE, "Borgerpanel", {"owner": "Borgerservice"}),
        (BRANDING, "Synlighed i lokale medier", {}),
        (DIALOGUE, "Digital Post til alle", {"description": "Obligatorisk fra 2015"}),
        (MESTRING, "Medietræning", {}),
    )


# --- fixtures --------------------------------------------------------------------------------


def service(database_url: str):  # type: ignore[no-untyped-def]
    # the due timer is not the point here: keep it from writing while the tests read
    return planning_app(database_url, due_check_interval_seconds=3600)


@pytest.fixture
async def planning(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh service on SQLite, for tests where storage is not the point."""
    async with serving(service(sqlite_url(tmp_path))) as client:
        yield client


@pytest.fixture
async def planning_db(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh service on each backend, for writes."""
    async with serving(service(database_url)) as client:
        yield client


@dataclass
class World:
    client: httpx.AsyncClient
    strategy: dict
    partners: dict[str, dict]
    on_sub_track: dict  # "Kommune forfra" on the sub-track "Skriv klart", with the monthly news
    on_track: dict  # a plan on the track "Borgerdialog og borgerinddragelse"
    off_strategy: dict  # a plan on no track
    monthly: dict  # the recurring activity

    def node(self, name: str) -> dict:
        return node(self.strategy, name)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    """One service per backend with Silkeborg's strategy, its 2013 and 2014 action plans,
    three partners and three plans, shared by the reading tests and by the refused writes
    (each of which checks that it changed nothing), to keep the suite fast."""
    async with serving(service(backend_url(request, tmp_path_factory))) as client:
        partners = {
            name: await create_partner(client, name, kind)
            for name, kind in [
                ("Mandag Morgen", "think-tank"),
                ("KL", "association"),
                ("Aarhus Universitet", "university"),
            ]
        }
        strategy = await create_strategy(client)
        ok(await revise(client, strategy, plan_2013(strategy), 0), 201)
        ok(await revise(client, strategy, plan_2014(strategy), 1), 201)
        strategy = await strategy_state(client, strategy["id"])
        on_sub_track, on_track, off_strategy = [await create_approvable_plan(client) for _ in "abc"]
        await change(
            client, on_sub_track["plan"]["id"], {"track_id": node(strategy, "Skriv klart")["id"]}
        )
        await change(client, on_track["plan"]["id"], {"track_id": node(strategy, DIALOGUE)["id"]})
        monthly = await add_activity(client, on_sub_track, partner_ids=[partners["KL"]["id"]])
        yield World(client, strategy, partners, on_sub_track, on_track, off_strategy, monthly)


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
    assert diff.status_code in (404, 422), diff.text
    assert_problem(diff, diff.status_code)


# --- partners ----------------------------------------------------------------------------------


async def test_a_partner_is_created_and_listed(planning: httpx.AsyncClient) -> None:
    body = {"name": "Mandag Morgen", "kind": "think-tank", "contact": "redaktionen@mm.dk"}

    created = await create(planning, "/v1/partners", body)

    assert {k: created[k] for k in body} == body
    listed = await read(planning, "/v1/partners")
    assert listed["items"] == [created] and listed["total"] == 1


async def test_the_location_of_a_new_partner_can_be_followed(planning: httpx.AsyncClient) -> None:
    response = await planning.post("/v1/partners", json={"name": "KL"}, headers=PLANNER)
    created = ok(response, 201)
    location = response.headers.get("location")
    assert location, "a 201 names the new resource"

    assert (await read(planning, location))["id"] == created["id"]


async def test_partners_are_listed_in_pages_that_cover_each_once(
    planning: httpx.AsyncClient,
) -> None:
    made = [await create_partner(planning, "KL") for _ in range(5)]  # the same name: ties

    seen: list[str] = []
    for offset in range(5):
        page = await read(planning, "/v1/partners", limit=1, offset=offset)
        assert page["total"] == 5
        seen += [p["id"] for p in page["items"]]
    assert sorted(seen) == sorted(p["id"] for p in made)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "KL", "kind": "x" * 101}, "kind"),
        ({"name": "KL", "cvr": "12345678"}, "cvr"),
    ],
)
async def test_a_bad_partner_is_a_422_naming_the_field_and_creates_nothing(
    world: World, body: dict, field: str
) -> None:
    before = await total(world.client, "/v1/partners")
    assert_names(await world.client.post("/v1/partners", json=body, headers=PLANNER), field)
    assert await total(world.client, "/v1/partners") == before


# --- activities: owner, recurrence, partners --------------------------------------------------


async def test_an_activity_carries_its_owner_recurrence_and_partners(world: World) -> None:
    shown, _ = await plan_state(world.client, world.on_sub_track["plan"]["id"])

    detail = next(a for a in shown["activities"] if a["id"] == world.monthly["id"])
    for activity in (world.monthly, detail):
        assert activity["owner"] == "Kommunikationsafdelingen"
        assert activity["recurrence"] == "FREQ=MONTHLY;COUNT=5"
        assert at(activity["starts_at"]) == MONTHLY_AT[0]
        assert activity["partners"] == [world.partners["KL"]]
    others = [a for a in shown["activities"] if a["id"] != world.monthly["id"]]
    assert all(a["recurrence"] is None and a["partners"] == [] for a in others)


async def test_an_activity_may_name_several_partners(planning_db: httpx.AsyncClient) -> None:
    made = await create_approvable_plan(planning_db)
    names = ["Mandag Morgen", "KL", "Aarhus Universitet", "VIA University College", "Aarhus 2017"]
    partners = [await create_partner(planning_db, name) for name in names]

    created = await add_activity(
        planning_db,
        made,
        title="Rethink public service",
        kind="event",
        owner="Borgmesterens Afdeling",
        starts_at="2017-05-10T09:00:00+02:00",
        recurrence=None,
        event={"format": "conference", "capacity": 1000},
        partner_ids=[p["id"] for p in partners],
    )

    assert sorted(p["id"] for p in created["partners"]) == sorted(p["id"] for p in partners)
    shown, _ = await plan_state(planning_db, made["plan"]["id"])
    detail = next(a for a in shown["activities"] if a["id"] == created["id"])
    assert sorted(p["name"] for p in detail["partners"]) == sorted(names)
    assert (detail["owner"], detail["recurrence"]) == ("Borgmesterens Afdeling", None)


BAD_ACTIVITIES = {
    "unknown partner": ({"partner_ids": ["no-such-partner"]}, "partner_ids.0"),
    "partner named twice": ("twice", "partner_ids"),
    "51 partners": ({"partner_ids": [str(uuid.uuid4()) for _ in range(51)]}, "partner_ids"),
    "empty owner": ({"owner": ""}, "owner"),
    "rule never ends": ({"recurrence": "FREQ=MONTHLY"}, "recurrence"),
    "rule is prose": ({"recurrence": "every month"}, "recurrence"),
    "rule over two lines": ({"recurrence": "FREQ=MONTHLY;COUNT=2\nFREQ=DAILY"}, "recurrence"),
    "rule with a bad UNTIL": ({"recurrence": "FREQ=MONTHLY;UNTIL=soon"}, "recurrence"),
    "rule with a bad FREQ": ({"recurrence": "FREQ=FORTNIGHTLY;COUNT=3"}, "recurrence"),
    "rule with a negative COUNT": ({"recurrence": "FREQ=MONTHLY;COUNT=-1"}, "recurrence"),
    "rule beyond ten years": ({"recurrence": "FREQ=YEARLY;COUNT=12"}, "recurrence"),
    "starts_at not the first occurrence": (  # 4 November 2015 is a Wednesday
        {"recurrence": "FREQ=WEEKLY;BYDAY=MO;COUNT=3"},
        "recurrence",
    ),
    "a recurring event": (
        {"kind": "event", "event": {"format": "theme_day", "capacity": 300}},
        "recurrence",
    ),
    "rule too long": ({"recurrence": "FREQ=DAILY;COUNT=2;" + "X" * 500}, "recurrence"),
    "rule ends too late": (
        {"recurrence": "FREQ=SECONDLY;UNTIL=20300101T000000Z"},
        "recurrence",
    ),
    "unknown audience": ({"audience_id": "no-such-audience"}, "audience_id"),
}


@pytest.mark.parametrize("case", BAD_ACTIVITIES.values(), ids=BAD_ACTIVITIES.keys())
async def test_a_bad_activity_is_a_422_naming_the_field_and_changes_nothing(
    world: World, case: tuple[Any, str]
) -> None:
    changes, field = case
    if changes == "twice":
        changes = {"partner_ids": [world.partners["KL"]["id"]] * 2}
    plan_id = world.off_strategy["plan"]["id"]
    before = await plan_state(world.client, plan_id)
    body = {**MONTHLY_NEWS, **refs(world.off_strategy), **changes}

    response = await world.client.post(
        f"/v1/plans/{plan_id}/activities", json=body, headers=PLANNER
    )

    assert_names(response, field)
    assert await plan_state(world.client, plan_id) == before


async def test_an_activity_for_an_unknown_plan_is_a_404_problem(world: World) -> None:
    body = {**MONTHLY_NEWS, "partner_ids": [world.partners["KL"]["id"]]}
    response = await world.client.post(
        f"/v1/plans/{uuid.uuid4()}/activities", json=body, headers=PLANNER
    )
    assert_problem(response, 404)


async def test_a_rule_with_both_count_and_until_is_a_422_naming_recurrence(world: World) -> None:
    plan_id = world.off_strategy["plan"]["id"]
    before = await plan_state(world.client, plan_id)
    rule = "FREQ=MONTHLY;COUNT=3;UNTIL=20160301T000000Z"
    body = {**MONTHLY_NEWS, **refs(world.off_strategy), "recurrence": rule}

    response = await world.client.post(
        f"/v1/plans/{plan_id}/activities", json=body, headers=PLANNER
    )

    assert_names(response, "recurrence")
    assert await plan_state(world.client, plan_id) == before


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param("FREQ=MONTHLY;UNTIL=20150101T000000Z", id="UNTIL before starts_at"),
        pytest.param("FREQ=MONTHLY;COUNT=0", id="COUNT=0"),
    ],
)
async def test_a_recurring_activity_is_either_refused_or_on_the_calendar_at_its_start(
    planning: httpx.AsyncClient, rule: str
) -> None:
    made = await create_approvable_plan(planning)
    body = {**MONTHLY_NEWS, **refs(made), "recurrence": rule}

    response = await planning.post(
        f"/v1/plans/{made['plan']['id']}/activities", json=body, headers=PLANNER
    )

    if response.status_code == 422:
        assert_names(response, "recurrence")
        return
    created = ok(response, 201)
    entries = await calendar(planning, plan_id=made["plan"]["id"])
    starts = [e["starts_at"] for e in entries if e["activity_id"] == created["id"]]
    assert starts[:1] == [created["starts_at"]]


async def test_each_occurrence_of_a_recurring_activity_counts_for_overlaps(
    planning_db: httpx.AsyncClient,
) -> None:
    newsletter = await create_approvable_plan(planning_db)
    monthly = await add_activity(planning_db, newsletter)
    staff = newsletter["audience"]["id"]
    other = await create_plan(planning_db)
    url = f"/v1/plans/{other['id']}"
    await create(planning_db, f"{url}/audiences", {"audience_id": staff})
    greeting = await create(
        planning_db,
        f"{url}/activities",
        {
            "title": "Vinterhilsen",
            "kind": "communication",
            "audience_id": staff,
            "starts_at": "2016-02-06T08:00:00+01:00",
        },
    )

    shown, _ = await plan_state(planning_db, other["id"])

    [overlap] = shown["overlaps"]  # with the fourth occurrence, three months after the first
    assert (overlap["activity_id"], overlap["other_activity_id"]) == (greeting["id"], monthly["id"])
    assert (overlap["other_plan_id"], overlap["audience_id"]) == (newsletter["plan"]["id"], staff)
    assert at(overlap["other_starts_at"]) == MONTHLY_AT[3]
    assert overlap["days_apart"] == pytest.approx(2, abs=0.1)
    assert overlap["clashes"] == 1  # 4 January and 4 March are outside the 14-day window


# --- PATCH /v1/plans/{id}, its versions and diff ----------------------------------------------


async def test_a_plan_is_changed_against_its_etag_and_gets_a_new_one(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    plan = await create_plan(planning_db)
    before, etag = await plan_state(planning_db, plan["id"])
    fields = {
        "title": "Kommune forfra – Aarhus gentænker velfærden",
        "track_id": node(strategy, "Skriv klart")["id"],
        "period_start": "2015-08-17",
        "period_end": "2017-12-31",
    }

    response = await planning_db.patch(
        f"/v1/plans/{plan['id']}", json=fields, headers={**PLANNER, "If-Match": etag}
    )

    summary = ok(response)
    after, new_etag = await plan_state(planning_db, plan["id"])
    assert response.headers.get("etag") == new_etag != etag
    assert {k: summary[k] for k in fields} == fields == {k: after[k] for k in fields}
    assert (after["owner"], after["sender"], after["status"]) == (
        before["owner"],
        before["sender"],
        "draft",
    )
    assert after["version"] == before["version"] + 1 == summary["version"]


async def test_a_plan_change_keeps_fields_left_out_and_can_clear_track_and_period(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    track = node(strategy, DIALOGUE)["id"]
    plan = await create(
        planning_db,
        "/v1/plans",
        {
            "title": "Kommune forfra",
            "owner": "Borgmesterens Afdeling",
            "sender": "Aarhus Kommune",
            "track_id": track,
            "period_start": "2015-08-17",
            "period_end": "2017-12-31",
        },
    )
    assert plan["track_id"] == track

    owner = await change(planning_db, plan["id"], {"owner": "Magistratens afdeling"})
    cleared = await change(
        planning_db, plan["id"], {"track_id": None, "period_start": None, "period_end": None}
    )

    assert (owner["owner"], owner["title"], owner["track_id"]) == (
        "Magistratens afdeling",
        "Kommune forfra",
        track,
    )
    assert (cleared["track_id"], cleared["period_start"], cleared["period_end"]) == (None,) * 3
    assert cleared["owner"] == "Magistratens afdeling"


async def test_a_plan_change_against_a_stale_etag_is_a_412_problem_and_changes_nothing(
    planning_db: httpx.AsyncClient,
) -> None:
    plan = await create_plan(planning_db)
    _, first = await plan_state(planning_db, plan["id"])
    await change(planning_db, plan["id"], {"owner": "MBA"})
    before, current = await plan_state(planning_db, plan["id"])

    for if_match in [first, f"W/{current}", '"999"', "garbage"]:  # If-Match compares strongly
        response = await planning_db.patch(
            f"/v1/plans/{plan['id']}",
            json={"title": "Tendens 2016"},
            headers={**PLANNER, "If-Match": if_match},
        )
        assert_problem(response, 412)

    assert await plan_state(planning_db, plan["id"]) == (before, current)


async def test_if_match_may_list_several_etags(planning: httpx.AsyncClient) -> None:
    plan = await create_plan(planning)
    _, etag = await plan_state(planning, plan["id"])

    response = await planning.patch(
        f"/v1/plans/{plan['id']}",
        json={"title": "Tendens 2016"},
        headers={**PLANNER, "If-Match": f'"77", {etag}'},
    )

    assert ok(response)["title"] == "Tendens 2016"


async def test_concurrent_changes_against_the_same_etag_apply_once(
    planning_db: httpx.AsyncClient,
) -> None:
    plan = await create_plan(planning_db)
    before, etag = await plan_state(planning_db, plan["id"])

    responses = await asyncio.gather(
        *[
            planning_db.patch(
                f"/v1/plans/{plan['id']}",
                json={"title": f"Udkast {n}"},
                headers={**PLANNER, "If-Match": etag},
            )
            for n in range(4)
        ]
    )

    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412]
    winner = next(r.json() for r in responses if r.status_code == 200)
    after, _ = await plan_state(planning_db, plan["id"])
    assert after["title"] == winner["title"] and after["version"] == before["version"] + 1


async def test_every_write_to_a_plan_returns_the_etag_for_the_next(
    planning_db: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    _, etag = await plan_state(planning_db, plan_id)
    body = {**MONTHLY_NEWS, **refs(made)}
    url = f"/v1/plans/{plan_id}/activities"

    added = await planning_db.post(url, json=body, headers={**PLANNER, "If-Match": etag})
    ok(added, 201)
    before = await plan_state(planning_db, plan_id)
    assert added.headers.get("etag") == before[1] != etag

    stale = await planning_db.post(url, json=body, headers={**PLANNER, "If-Match": etag})

    assert_problem(stale, 412)
    assert await plan_state(planning_db, plan_id) == before


BAD_CHANGES = {
    "empty title": ({"title": ""}, "title"),
    "title removed": ({"title": None}, "title"),
    "owner too long": ({"owner": "x" * 201}, "owner"),
    "unknown track": ({"track_id": "no-such-track"}, "track_id"),
    "period ends first": ({"period_start": "2017-12-31", "period_end": "2015-08-17"}, "period_end"),
    "not a date": ({"period_start": "17-08-2015"}, "period_start"),
    "status is not changed here": ({"status": "approved"}, "status"),
}


@pytest.mark.parametrize("case", BAD_CHANGES.values(), ids=BAD_CHANGES.keys())
async def test_a_bad_plan_change_is_a_422_naming_the_field_and_changes_nothing(
    world: World, case: tuple[dict, str]
) -> None:
    body, field = case
    plan_id = world.off_strategy["plan"]["id"]
    before = await plan_state(world.client, plan_id)

    response = await world.client.patch(f"/v1/plans/{plan_id}", json=body, headers=PLANNER)

    assert_names(response, field)
    assert await plan_state(world.client, plan_id) == before


async def test_a_plan_serves_a_track_or_sub_track_not_a_focus_area(world: World) -> None:
    plan_id = world.off_strategy["plan"]["id"]
    before = await plan_state(world.client, plan_id)
    plans = await total(world.client, "/v1/plans")

    patched = await world.client.patch(
        f"/v1/plans/{plan_id}",
        json={"track_id": world.node("Digitalisering")["id"]},
        headers=PLANNER,
    )
    created = await world.client.post(
        "/v1/plans",
        json={
            "title": "Tendens 2015",
            "owner": "Beskæftigelsesregion Midtjylland",
            "sender": "Regionen",
            "track_id": world.node("Strategisk kommunikation")["id"],
        },
        headers=PLANNER,
    )

    assert_names(patched, "track_id")
    assert_names(created, "track_id")
    assert await plan_state(world.client, plan_id) == before
    assert await total(world.client, "/v1/plans") == plans


async def test_an_empty_malformed_or_misaddressed_plan_change_is_refused(world: World) -> None:
    plan_id = world.off_strategy["plan"]["id"]
    before = await plan_state(world.client, plan_id)

    empty = await world.client.patch(f"/v1/plans/{plan_id}", json={}, headers=PLANNER)
    not_json = await world.client.patch(
        f"/v1/plans/{plan_id}",
        content=b"{title:",
        headers={**PLANNER, "content-type": "application/json"},
    )
    unknown = await world.client.patch(
        f"/v1/plans/{uuid.uuid4()}", json={"title": "Tendens 2016"}, headers=PLANNER
    )

    assert_problem(empty, 422)
    assert_problem(not_json, 400)
    assert_problem(unknown, 404)
    assert await plan_state(world.client, plan_id) == before


async def test_every_write_is_a_plan_version_listed_oldest_first(
    planning_db: httpx.AsyncClient,
) -> None:
    plan = await create_plan(planning_db)
    anne = bearer(token("planner", subject="anne"))
    await change(planning_db, plan["id"], {"title": "Rethink velfærd"}, **anne)
    await create(
        planning_db, f"/v1/plans/{plan['id']}/channels", {"kind": "op_ed", "name": "Kronik"}
    )
    current, _ = await plan_state(planning_db, plan["id"])

    page = await read(planning_db, f"/v1/plans/{plan['id']}/versions")

    assert [v["version"] for v in page["items"]] == [1, 2, 3]
    assert current["version"] == 3
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [v["changed_by"] for v in page["items"]] == ["tester", "anne", "tester"]
    assert all(v["change"] for v in page["items"])
    times = [at(v["changed_at"]) for v in page["items"]]
    assert times == sorted(times)
    second = await read(planning_db, f"/v1/plans/{plan['id']}/versions", limit=1, offset=1)
    assert [v["version"] for v in second["items"]] == [2] and second["total"] == 3


async def test_a_plan_version_shows_the_plan_as_it_was(planning_db: httpx.AsyncClient) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    await change(planning_db, plan_id, {"title": "Rethink velfærd"})
    current, _ = await plan_state(planning_db, plan_id)
    url = f"/v1/plans/{plan_id}/versions"

    first = await read(planning_db, f"{url}/1")
    before_change = await read(planning_db, f"{url}/{current['version'] - 1}")
    latest = await read(planning_db, f"{url}/{current['version']}")

    assert (first["version"], first["snapshot"]["title"]) == (1, "Kommune forfra")
    assert first["snapshot"]["goals"] == first["snapshot"]["activities"] == []
    assert before_change["snapshot"]["title"] == "Kommune forfra"
    assert len(before_change["snapshot"]["activities"]) == 2
    assert latest["snapshot"]["title"] == "Rethink velfærd"
    ids = {a["id"] for a in current["activities"]}
    assert {a["id"] for a in latest["snapshot"]["activities"]} == ids
    missing = await planning_db.get(f"{url}/{current['version'] + 1}", headers=ANALYST)
    assert_problem(missing, 404)


async def test_versions_and_diff_of_an_unknown_plan_are_404_problems(world: World) -> None:
    base = f"/v1/plans/{uuid.uuid4()}"
    for path in ["/versions", "/versions/1", "/diff?from_version=1&to_version=2"]:
        assert_problem(await world.client.get(base + path, headers=ANALYST), 404)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/versions/0", "version"),
        ("/versions/first", "version"),
        ("/diff?from_version=1", "to_version"),
        ("/diff?from_version=0&to_version=1", "from_version"),
        ("/versions?limit=0", "limit"),
        ("/versions?limit=201", "limit"),
        ("/versions?offset=-1", "offset"),
    ],
)
async def test_bad_version_numbers_and_paging_are_422_problems_naming_the_parameter(
    world: World, path: str, field: str
) -> None:
    url = f"/v1/plans/{world.on_track['plan']['id']}{path}"
    assert_names(await world.client.get(url, headers=ANALYST), field)


async def test_a_plan_diff_lists_changed_fields_and_parts_added_removed_and_changed(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    base, _ = await plan_state(planning_db, plan_id)
    track = node(strategy, "Skriv klart")["id"]
    await change(planning_db, plan_id, {"title": "Rethink velfærd", "track_id": track})
    monthly = await add_activity(planning_db, made)
    moved = made["event_activity"]
    ok(
        await planning_db.post(
            f"/v1/plans/{plan_id}/activities/{moved['id']}/reschedule",
            json={"starts_at": "2016-01-27T09:00:00+01:00"},
            headers=PLANNER,
        )
    )
    head, _ = await plan_state(planning_db, plan_id)
    url = f"/v1/plans/{plan_id}/diff"

    diff = await read(planning_db, url, from_version=base["version"], to_version=head["version"])

    assert (diff["from_version"], diff["to_version"]) == (base["version"], head["version"])
    assert diff["fields"] == {
        "title": {"before": "Kommune forfra", "after": "Rethink velfærd"},
        "track_id": {"before": None, "after": track},
    }
    activities = diff["parts"]["activities"]
    assert [a["id"] for a in activities["added"]] == [monthly["id"]]
    assert activities["removed"] == []
    assert [c["item"]["id"] for c in activities["changed"]] == [moved["id"]]
    starts = activities["changed"][0]["fields"]["starts_at"]
    assert (at(starts["before"]), at(starts["after"])) == (
        at("2016-01-20T09:00:00+01:00"),
        at("2016-01-27T09:00:00+01:00"),
    )
    assert all(diff["parts"][part] == NOTHING for part in ("goals", "messages", "channels"))
    assert diff["parts"]["audiences"] == NOTHING

    back = await read(planning_db, url, from_version=head["version"], to_version=base["version"])
    assert [a["id"] for a in back["parts"]["activities"]["removed"]] == [monthly["id"]]
    assert back["fields"]["title"] == {"before": "Rethink velfærd", "after": "Kommune forfra"}
    same = await read(planning_db, url, from_version=2, to_version=2)
    assert same["fields"] == {} and all(p == NOTHING for p in same["parts"].values())
    missing = await planning_db.get(
        url, params={"from_version": 1, "to_version": 99}, headers=ANALYST
    )
    assert missing.status_code in (404, 422), missing.text
    assert_problem(missing, missing.status_code)


# --- changes to an approved plan --------------------------------------------------------------


async def approved(client: httpx.AsyncClient) -> tuple[dict, str]:
    made = await create_approvable_plan(client)
    _, etag = await plan_state(client, made["plan"]["id"])
    response = await client.post(
        f"/v1/plans/{made['plan']['id']}/approve", headers={**PLANNER, "If-Match": etag}
    )
    assert ok(response)["status"] == "approved"
    return made, response.headers.get("etag", "")


async def test_changing_an_approved_plan_needs_a_reason_and_who_agreed(
    planning_db: httpx.AsyncClient,
) -> None:
    made, _ = await approved(planning_db)
    url = f"/v1/plans/{made['plan']['id']}"
    before = await plan_state(planning_db, made["plan"]["id"])
    title = {"title": "Kommune forfra 2.0"}
    goal = {
        "description": "Nyt fra direktionen læses af 80 %",
        "metric": "open rate",
        "target": 80,
        "unit": "%",
    }
    moved = f"{url}/activities/{made['event_activity']['id']}/reschedule"
    client = planning_db

    for response, fields in [
        (await client.patch(url, json=title, headers=PLANNER), ("reason", "agreed_by")),
        (
            await client.patch(
                url, json={**title, "reason": "Magistraten bad om det"}, headers=PLANNER
            ),
            ("agreed_by",),
        ),
        (
            await client.patch(url, json={**title, "agreed_by": "Magistraten"}, headers=PLANNER),
            ("reason",),
        ),
        (
            await client.patch(
                url, json={**title, "reason": "", "agreed_by": "Magistraten"}, headers=PLANNER
            ),
            ("reason",),
        ),
        (
            await client.post(
                f"{url}/activities", json={**MONTHLY_NEWS, **refs(made)}, headers=PLANNER
            ),
            ("reason", "agreed_by"),
        ),
        (await client.post(f"{url}/goals", json=goal, headers=PLANNER), ("reason", "agreed_by")),
        (
            await client.post(
                moved, json={"starts_at": "2016-01-27T09:00:00+01:00"}, headers=PLANNER
            ),
            ("reason", "agreed_by"),
        ),
    ]:
        assert_names(response, *fields)

    assert await plan_state(planning_db, made["plan"]["id"]) == before


async def test_an_agreed_change_to_an_approved_plan_is_a_recorded_deviation(
    planning_db: httpx.AsyncClient,
) -> None:
    made, etag = await approved(planning_db)
    plan_id = made["plan"]["id"]
    before, current = await plan_state(planning_db, plan_id)
    assert etag == current
    agreed = {"reason": "Magistraten drøftede planen 17. august 2015", "agreed_by": "Magistraten"}

    response = await planning_db.patch(
        f"/v1/plans/{plan_id}",
        json={"title": "Kommune forfra 2.0", **agreed},
        headers={**PLANNER, "If-Match": etag},
    )

    summary = ok(response)
    after, new_etag = await plan_state(planning_db, plan_id)
    assert (summary["title"], summary["status"]) == ("Kommune forfra 2.0", "approved")
    assert response.headers.get("etag") == new_etag != etag
    assert after["version"] == before["version"] + 1
    [deviation] = after["deviations"]
    assert (deviation["reason"], deviation["agreed_by"], deviation["recorded_by"]) == (
        agreed["reason"],
        "Magistraten",
        "tester",
    )
    assert deviation["activity_id"] is None
    assert "Kommune forfra" in deviation["before"] and "Kommune forfra 2.0" in deviation["after"]
    assert await total(planning_db, f"/v1/plans/{plan_id}/versions") == after["version"]


async def test_an_activity_added_to_an_approved_plan_must_be_complete_and_agreed(
    planning_db: httpx.AsyncClient,
) -> None:
    made, _ = await approved(planning_db)
    plan_id = made["plan"]["id"]
    partner = await create_partner(planning_db, "Mandag Morgen", "think-tank")
    agreed = {"reason": "Direktionen vil have månedlige nyheder", "agreed_by": "Direktionen"}
    body = {**MONTHLY_NEWS, **refs(made), **agreed, "partner_ids": [partner["id"]]}
    url = f"/v1/plans/{plan_id}/activities"
    before = await plan_state(planning_db, plan_id)

    incomplete = await planning_db.post(url, json={**body, "audience_id": None}, headers=PLANNER)
    assert_names(incomplete, "audience_id")
    assert await plan_state(planning_db, plan_id) == before

    created = await create(planning_db, url, body)

    after, _ = await plan_state(planning_db, plan_id)
    assert after["status"] in ("approved", "active")
    assert (created["recurrence"], created["partners"]) == (MONTHLY_NEWS["recurrence"], [partner])
    [deviation] = after["deviations"]
    assert (deviation["activity_id"], deviation["reason"], deviation["agreed_by"]) == (
        created["id"],
        agreed["reason"],
        "Direktionen",
    )
    entries = await calendar(planning_db, plan_id=plan_id)
    assert [at(e["starts_at"]) for e in entries if e["activity_id"] == created["id"]] == MONTHLY_AT
    assert {e["plan_status"] for e in entries} <= {"approved", "active"}


# --- the calendar -----------------------------------------------------------------------------


async def test_a_recurring_activity_is_on_the_calendar_once_per_occurrence(world: World) -> None:
    entries = await calendar(world.client, plan_id=world.on_sub_track["plan"]["id"])

    monthly = [e for e in entries if e["activity_id"] == world.monthly["id"]]
    assert [at(e["starts_at"]) for e in monthly] == MONTHLY_AT
    assert all(e["recurring"] and e["title"] == "Nyt fra direktionen" for e in monthly)
    assert {(e["plan_id"], e["audience"], e["channel"], e["kind"]) for e in monthly} == {
        (world.on_sub_track["plan"]["id"], "Kommunale medarbejdere", "newsletter", "communication")
    }
    one_offs = [e for e in entries if e["activity_id"] != world.monthly["id"]]
    assert sorted(e["title"] for e in one_offs) == [
        "Nyhedsbrev januar",
        "Velfærdens innovationsdag",
    ]
    assert not any(e["recurring"] for e in one_offs)
    assert [at(e["starts_at"]) for e in entries] == sorted(at(e["starts_at"]) for e in entries)


async def test_occurrences_keep_their_danish_time_of_day_across_daylight_saving(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    meeting = await add_activity(
        planning,
        made,
        title="Ledermøde",
        starts_at="2016-01-12T09:00:00+01:00",
        recurrence="FREQ=MONTHLY;BYMONTHDAY=12;COUNT=12",
    )

    entries = await calendar(planning, plan_id=made["plan"]["id"])

    copenhagen = ZoneInfo("Europe/Copenhagen")
    local = [
        at(e["starts_at"]).astimezone(copenhagen)
        for e in entries
        if e["activity_id"] == meeting["id"]
    ]
    assert [(t.year, t.month, t.day, t.hour, t.minute) for t in local] == [
        (2016, month, 12, 9, 0) for month in range(1, 13)
    ]
    assert at(entries[-1]["starts_at"]) == at("2016-12-12T08:00:00Z")
    july = next(t for t in local if t.month == 7)
    assert july.utcoffset() is not None and july.utcoffset().total_seconds() == 7200


@pytest.mark.parametrize(
    ("rule", "local_days"),
    [
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=3", ["2016-01-12", "2016-01-26", "2016-02-09"]),
        ("FREQ=MONTHLY;BYDAY=2TU;COUNT=3", ["2016-01-12", "2016-02-09", "2016-03-08"]),
        (
            "FREQ=YEARLY;BYMONTH=1,6;BYMONTHDAY=12;COUNT=3",
            ["2016-01-12", "2016-06-12", "2017-01-12"],
        ),
        ("FREQ=DAILY;UNTIL=20160114T080000Z", ["2016-01-12", "2016-01-13", "2016-01-14"]),
    ],
)
async def test_the_documented_rule_parts_are_expanded_from_starts_at(
    planning: httpx.AsyncClient, rule: str, local_days: list[str]
) -> None:
    made = await create_approvable_plan(planning)
    activity = await add_activity(
        planning, made, title="Ledermøde", starts_at="2016-01-12T09:00:00+01:00", recurrence=rule
    )  # a Tuesday

    entries = await calendar(planning, plan_id=made["plan"]["id"])

    copenhagen = ZoneInfo("Europe/Copenhagen")
    local = [
        at(e["starts_at"]).astimezone(copenhagen)
        for e in entries
        if e["activity_id"] == activity["id"]
    ]
    assert [t.date().isoformat() for t in local] == local_days
    assert {(t.hour, t.minute) for t in local} == {(9, 0)}


@pytest.mark.parametrize(
    ("starts_from", "starts_before", "taken"),
    [
        ("2015-12-01T00:00:00+01:00", "2016-03-01T00:00:00+01:00", [1, 2, 3]),
        ("2016-01-04T07:00:00Z", "2016-02-04T07:00:00Z", [2]),  # from: inclusive; before: not
        ("2016-01-04T09:00:00+02:00", "2016-02-04T09:00:01+02:00", [2, 3]),  # the same instants
        ("2016-01-04T07:00:01Z", None, [3, 4]),
        (None, "2015-12-04T07:00:00Z", [0]),
        ("2016-03-05T00:00:00Z", None, []),
        ("2016-03-01T00:00:00Z", "2015-12-01T00:00:00Z", []),
    ],
)
async def test_the_calendar_period_takes_each_occurrence_in_it(
    world: World, starts_from: str | None, starts_before: str | None, taken: list[int]
) -> None:
    period = {"starts_from": starts_from, "starts_before": starts_before}
    params = {k: v for k, v in period.items() if v is not None}

    entries = await calendar(world.client, plan_id=world.on_sub_track["plan"]["id"], **params)

    monthly = [at(e["starts_at"]) for e in entries if e["activity_id"] == world.monthly["id"]]
    assert monthly == [MONTHLY_AT[i] for i in taken]
    for entry in entries:
        assert starts_from is None or at(entry["starts_at"]) >= at(starts_from)
        assert starts_before is None or at(entry["starts_at"]) < at(starts_before)


async def test_the_calendar_by_track_takes_plans_on_the_node_and_below_it(world: World) -> None:
    sub_track, track = world.on_sub_track["plan"]["id"], world.on_track["plan"]["id"]

    async def plans_on(name: str) -> set[str]:
        return {e["plan_id"] for e in await calendar(world.client, track_id=world.node(name)["id"])}

    assert await plans_on("Strategisk kommunikation") == {sub_track, track}
    assert await plans_on(MESTRING) == {sub_track}
    assert await plans_on("Skriv klart") == {sub_track}
    assert await plans_on(DIALOGUE) == {track}
    assert await plans_on("Digitale kanaler") == set()
    assert await plans_on("Digitalisering") == set()
    everything = {e["plan_id"] for e in await calendar(world.client)}
    assert world.off_strategy["plan"]["id"] in everything


async def test_the_calendar_filters_by_audience_and_channel(world: World) -> None:
    by_audience = await calendar(world.client, audience_id=world.on_track["audience"]["id"])
    assert [e["plan_id"] for e in by_audience] == [world.on_track["plan"]["id"]] * 2
    plan_id = world.on_sub_track["plan"]["id"]
    assert len(await calendar(world.client, channel="newsletter", plan_id=plan_id)) == 7
    assert await calendar(world.client, channel="sms") == []


async def test_the_calendar_limit_keeps_the_earliest_occurrences(world: World) -> None:
    plan_id = world.on_sub_track["plan"]["id"]
    everything = await calendar(world.client, plan_id=plan_id)

    first_four = await calendar(world.client, plan_id=plan_id, limit=4)

    assert len(everything) == 7
    assert first_four == everything[:4]
    assert [(at(e["starts_at"]), e["title"]) for e in first_four] == [
        *[(day, "Nyt fra direktionen") for day in MONTHLY_AT[:3]],
        (at("2016-01-05T07:00:00Z"), "Nyhedsbrev januar"),
    ]


@pytest.mark.parametrize("route", ["/v1/calendar", "/v1/calendar.ics"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"starts_from": "2016-03-01T00:00:00"}, "starts_from"),  # no time zone
        ({"starts_before": "in March"}, "starts_before"),
        ({"channel": "fax"}, "channel"),
    ],
)
async def test_bad_calendar_filters_are_422_problems_naming_the_parameter(
    world: World, route: str, params: dict, field: str
) -> None:
    assert_names(await world.client.get(route, params=params, headers=ANALYST), field)


@pytest.mark.parametrize("route", ["/v1/strategies", "/v1/partners"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**31}, "offset"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_out_of_range_paging_is_a_422_problem_naming_the_parameter(
    world: World, route: str, params: dict, field: str
) -> None:
    assert_names(await world.client.get(route, params=params, headers=ANALYST), field)


async def test_the_largest_pages_are_allowed(world: World) -> None:
    for route, limit in [
        ("/v1/calendar", 1000),
        ("/v1/calendar.ics", 1000),
        ("/v1/strategies", 200),
        ("/v1/partners", 200),
        (f"/v1/plans/{world.on_track['plan']['id']}/versions", 200),
    ]:
        response = await world.client.get(route, params={"limit": limit}, headers=ANALYST)
        assert response.status_code == 200, f"{route}: {response.text}"


async def test_rescheduling_a_recurring_activity_moves_the_whole_series(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    plan_id = made["plan"]["id"]
    monthly = await add_activity(planning, made, recurrence="FREQ=MONTHLY;COUNT=3")

    moved = await planning.post(
        f"/v1/plans/{plan_id}/activities/{monthly['id']}/reschedule",
        json={"starts_at": "2015-11-10T08:00:00+01:00"},
        headers=PLANNER,
    )

    assert at(ok(moved)["starts_at"]) == at("2015-11-10T07:00:00Z")
    entries = await calendar(planning, plan_id=plan_id)
    assert [at(e["starts_at"]) for e in entries if e["activity_id"] == monthly["id"]] == [
        at("2015-11-10T07:00:00Z"),
        at("2015-12-10T07:00:00Z"),
        at("2016-01-10T07:00:00Z"),
    ]


# --- the iCal feed ----------------------------------------------------------------------------


async def test_the_ical_feed_is_rfc_5545_with_the_same_occurrences_as_the_json(
    world: World,
) -> None:
    plan_id = world.on_sub_track["plan"]["id"]

    response = await world.client.get(
        "/v1/calendar.ics", params={"plan_id": plan_id}, headers=ANALYST
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    lines = response.content.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR" and b"\n" not in b"".join(lines)  # CRLF only
    feed = icalendar.Calendar.from_ical(response.content)
    assert str(feed["version"]) == "2.0" and str(feed.get("prodid", ""))
    events = list(feed.walk("VEVENT"))
    uids = [str(event["uid"]) for event in events]
    assert len(set(uids)) == len(uids) == 7
    assert all(event.get("dtstamp") for event in events)
    assert vevents(feed) == occurrences(await calendar(world.client, plan_id=plan_id))


async def test_the_ical_feed_takes_the_same_filters_as_the_json(world: World) -> None:
    for params in [
        {"starts_from": "2015-12-01T00:00:00+01:00", "starts_before": "2016-03-01T00:00:00+01:00"},
        {"track_id": world.node("Strategisk kommunikation")["id"]},
        {"track_id": world.node(DIALOGUE)["id"]},
        {"plan_id": world.on_sub_track["plan"]["id"], "limit": 5},
        {"audience_id": world.on_track["audience"]["id"]},
        {"channel": "sms"},
    ]:
        feed = await ical(world.client, **params)
        assert vevents(feed) == occurrences(await calendar(world.client, **params)), params


async def test_the_ical_feed_escapes_text_so_a_title_cannot_add_events(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    title = "Debat, dilemmaer; velfærd\\\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:Falsk"
    await add_activity(planning, made, title=title, recurrence=None)

    feed = await ical(planning, plan_id=made["plan"]["id"])

    summaries = [summary for _, summary in vevents(feed)]
    assert len(summaries) == 3
    assert title in summaries


# --- HTTP methods ----------------------------------------------------------------------------


async def test_a_405_lists_every_method_the_resource_allows(planning: httpx.AsyncClient) -> None:
    plan = await create_plan(planning)
    for path, methods in [
        ("/v1/strategies", {"GET", "POST"}),
        ("/v1/partners", {"GET", "POST"}),
        (f"/v1/plans/{plan['id']}", {"GET", "PATCH"}),
    ]:
        response = await planning.put(path, json={}, headers=PLANNER)
        assert_problem(response, 405)
        allowed = {m.strip() for m in response.headers.get("allow", "").split(",")}
        assert methods <= allowed, f"{path}: Allow: {response.headers.get('allow')}"


# --- roles and credentials ------------------------------------------------------------------


def write_routes(world: World) -> list[tuple[str, str, dict]]:
    strategy, plan = world.strategy["id"], world.off_strategy["plan"]["id"]
    return [
        ("POST", "/v1/strategies", SILKEBORG),
        ("POST", f"/v1/strategies/{strategy}/nodes", {"name": "Sundhed"}),
        ("POST", f"/v1/strategies/{strategy}/action-plan/versions", plan_2014(world.strategy)),
        ("POST", "/v1/partners", {"name": "Fagforbundet", "kind": "union"}),
        ("PATCH", f"/v1/plans/{plan}", {"title": "Tendens 2016"}),
        ("POST", f"/v1/plans/{plan}/activities", {**MONTHLY_NEWS, **refs(world.off_strategy)}),
    ]


def read_routes(world: World) -> list[str]:
    strategy = f"/v1/strategies/{world.strategy['id']}"
    plan = f"/v1/plans/{world.on_track['plan']['id']}"
    return [
        "/v1/strategies",
        strategy,
        f"{strategy}/action-plan",
        f"{strategy}/action-plan/versions",
        f"{strategy}/action-plan/versions/1",
        f"{strategy}/action-plan/diff?from_version=1&to_version=2",
        "/v1/partners",
        f"{plan}/versions",
        f"{plan}/versions/1",
        f"{plan}/diff?from_version=1&to_version=2",
        "/v1/calendar",
        "/v1/calendar.ics",
    ]


async def everything(world: World) -> tuple[Any, ...]:
    return (
        await strategy_state(world.client, world.strategy["id"]),
        await total(world.client, "/v1/strategies"),
        await total(world.client, "/v1/partners"),
        await plan_state(world.client, world.off_strategy["plan"]["id"]),
        await versions_of(world.client, world.strategy),
    )


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_every_new_route_needs_a_valid_bearer_token(
    world: World, credentials: dict[str, str]
) -> None:
    before = await everything(world)
    for method, path, body in write_routes(world):
        response = await world.client.request(method, path, json=body, headers=credentials)
        assert_unauthorized(response)
    for path in read_routes(world):
        assert_unauthorized(await world.client.get(path, headers=credentials))
    assert await everything(world) == before


@pytest.mark.parametrize("role", NON_WRITERS)
async def test_only_planners_and_admins_write_strategies_partners_and_plans(
    world: World, role: str
) -> None:
    before = await everything(world)
    for method, path, body in write_routes(world):
        response = await world.client.request(method, path, json=body, headers=auth(role))
        assert_problem(response, 403)
    assert_problem(await world.client.post("/v1/strategies", json=SILKEBORG, headers=auth()), 403)
    assert await everything(world) == before


async def test_credentials_are_checked_before_the_body(world: World) -> None:
    bad = {"name": 2013, "focus_areas": "all"}
    assert_unauthorized(await world.client.post("/v1/strategies", json=bad))
    assert_problem(await world.client.post("/v1/strategies", json=bad, headers=ANALYST), 403)


@pytest.mark.parametrize("role", READERS)
async def test_every_staff_role_reads_strategies_versions_and_the_calendar(
    world: World, role: str
) -> None:
    for path in read_routes(world):
        response = await world.client.get(path, headers=auth(role))
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"


async def test_an_admin_may_do_what_a_planner_may(planning: httpx.AsyncClient) -> None:
    as_admin = {"Authorization": ADMIN["Authorization"]}
    strategy = await create(planning, "/v1/strategies", SILKEBORG, **as_admin)
    await create(
        planning, f"/v1/strategies/{strategy['id']}/nodes", {"name": "Sundhed"}, **as_admin
    )
    url = f"/v1/strategies/{strategy['id']}/action-plan/versions"
    await create(planning, url, plan_2013(strategy), **as_admin, **{"If-Match": '"0"'})
    await create(planning, "/v1/partners", {"name": "KL"}, **as_admin)
    plan = await create_plan(planning)
    assert (await change(planning, plan["id"], {"title": "Tendens 2016"}, **as_admin))[
        "version"
    ] == 2


# --- Idempotency-Key on creates ---------------------------------------------------------------


async def test_a_retried_strategy_with_the_same_idempotency_key_gets_the_first_answer(
    planning_db: httpx.AsyncClient,
) -> None:
    headers = {**PLANNER, "Idempotency-Key": str(uuid.uuid4())}

    first = await planning_db.post("/v1/strategies", json=SILKEBORG, headers=headers)
    retry = await planning_db.post("/v1/strategies", json=SILKEBORG, headers=headers)

    assert (retry.status_code, retry.json()) == (201, ok(first, 201))
    assert retry.headers.get("location") == first.headers["location"]
    assert await total(planning_db, "/v1/strategies") == 1


async def test_a_retried_revision_with_the_same_idempotency_key_gets_the_first_answer(
    planning_db: httpx.AsyncClient,
) -> None:
    """Not a 412, although the first attempt moved the action plan past the If-Match."""
    strategy = await create_strategy(planning_db)
    url = f"/v1/strategies/{strategy['id']}/action-plan/versions"
    headers = {**PLANNER, "If-Match": '"0"', "Idempotency-Key": str(uuid.uuid4())}

    first = await planning_db.post(url, json=plan_2013(strategy), headers=headers)
    retry = await planning_db.post(url, json=plan_2013(strategy), headers=headers)

    assert ok(first, 201)["version"] == 1
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers.get("etag") == first.headers["etag"]
    assert await versions_of(planning_db, strategy) == [1]


async def test_retried_nodes_partners_and_activities_are_created_once(
    planning_db: httpx.AsyncClient,
) -> None:
    strategy = await create_strategy(planning_db)
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    creates = [
        (f"/v1/strategies/{strategy['id']}/nodes", {"name": "Sundhed"}),
        ("/v1/partners", {"name": "Aarhus Universitet", "kind": "university"}),
        (f"/v1/plans/{plan_id}/activities", {**MONTHLY_NEWS, **refs(made)}),
    ]
    for url, body in creates:
        headers = {**PLANNER, "Idempotency-Key": str(uuid.uuid4())}
        first = await planning_db.post(url, json=body, headers=headers)
        retry = await planning_db.post(url, json=body, headers=headers)
        assert (retry.status_code, retry.json()) == (201, ok(first, 201)), url

    fetched = await strategy_state(planning_db, strategy["id"])
    assert [f["name"] for f in fetched["focus_areas"]].count("Sundhed") == 1
    assert await total(planning_db, "/v1/partners") == 1
    shown, _ = await plan_state(planning_db, plan_id)
    assert [a["title"] for a in shown["activities"]].count("Nyt fra direktionen") == 1


async def test_an_idempotency_key_reused_for_another_body_is_refused(
    planning: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    await create(planning, "/v1/strategies", SILKEBORG, **key)
    await create(planning, "/v1/partners", {"name": "KL"}, **{"Idempotency-Key": "partner-1"})

    other_strategy = await planning.post(
        "/v1/strategies", json={**SILKEBORG, "name": "Kanalstrategi"}, headers={**PLANNER, **key}
    )
    other_partner = await planning.post(
        "/v1/partners",
        json={"name": "Fagforbundet"},
        headers={**PLANNER, "Idempotency-Key": "partner-1"},
    )

    for response in (other_strategy, other_partner):
        assert response.status_code in (409, 422), response.text
        assert_problem(response, response.status_code)
    assert await total(planning, "/v1/strategies") == 1
    assert await total(planning, "/v1/partners") == 1
