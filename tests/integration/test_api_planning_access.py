"""What every planning route shares: allowed methods, bearer tokens and roles, and the
Idempotency-Key on creates — over strategies, partners, plans and the calendar alike."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.api import (
    BAD_CREDENTIALS,
    assert_problem,
    assert_unauthorized,
)
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import auth
from tests.planning_world import (
    ADMIN,
    ANALYST,
    MONTHLY_NEWS,
    NON_WRITERS,
    READERS,
    SILKEBORG,
    World,
    change,
    create,
    create_strategy,
    ok,
    plan_2013,
    plan_2014,
    plan_state,
    refs,
    strategy_state,
    total,
    versions_of,
)

pytestmark = pytest.mark.integration


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
        assert_problem(response, 422)  # a key reused for another request
    assert await total(planning, "/v1/strategies") == 1
    assert await total(planning, "/v1/partners") == 1
