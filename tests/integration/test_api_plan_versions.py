"""A plan's activities (owner, recurrence, partners), its changes against an ETag, its versions
and diff, and agreed changes to an approved plan, as a client meets them over HTTP. The plans are
Aarhus Kommune's "Kommune forfra" (DOMAIN.md, case A); the monthly news from top management
(case B) is the recurring activity."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.api import (
    assert_problem,
    bearer,
)
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import token
from tests.planning_world import (
    ANALYST,
    DIALOGUE,
    MONTHLY_AT,
    MONTHLY_NEWS,
    NOTHING,
    World,
    add_activity,
    assert_names,
    at,
    calendar,
    change,
    create,
    create_partner,
    create_strategy,
    node,
    ok,
    plan_state,
    read,
    refs,
    total,
)

pytestmark = pytest.mark.integration


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
async def test_a_rule_with_no_occurrence_is_a_422_naming_recurrence(
    planning: httpx.AsyncClient, rule: str
) -> None:
    made = await create_approvable_plan(planning)
    body = {**MONTHLY_NEWS, **refs(made), "recurrence": rule}
    before = await plan_state(planning, made["plan"]["id"])

    response = await planning.post(
        f"/v1/plans/{made['plan']['id']}/activities", json=body, headers=PLANNER
    )

    assert_names(response, "recurrence")
    assert await plan_state(planning, made["plan"]["id"]) == before


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
    assert_problem(missing, 404)
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
