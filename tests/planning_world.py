"""Planning's API world for the HTTP tests: Silkeborg's strategy (DOMAIN.md, case C), its 2013
and 2014 action plans, Aarhus' "Kommune forfra" plans (case A) with their partners, and the
monthly news from top management (case B), with the helpers that read and write them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import icalendar

from tests.api import (
    assert_problem,
)
from tests.factories import PLANNER, create_approvable_plan
from tests.helpers import auth

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


async def build_world(client: httpx.AsyncClient) -> World:
    """Silkeborg's strategy with its 2013 and 2014 action plans, three partners and three
    plans: one on the sub-track "Skriv klart" with the monthly news, one on a track, one on
    no track."""
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
    return World(client, strategy, partners, on_sub_track, on_track, off_strategy, monthly)
