"""Partners (co-organisers, think tanks, unions), as a client meets them over HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import PLANNER
from tests.planning_world import (
    World,
    assert_names,
    create,
    create_partner,
    ok,
    read,
    total,
)

pytestmark = pytest.mark.integration


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
