"""The planning HTTP API as its users meet it, written from the OpenAPI document and DESIGN.md.

Validation errors are problems that name the field; a rejected request changes nothing; bearer
tokens guard every planning route and only planners and admins change plans; plans are approved
only when every activity has an audience, a message and a channel, and only against the ETag the
approver reviewed; plans are listed in stable pages. The plan is Aarhus Kommune's "Kommune
forfra" (DOMAIN.md, case A).

What every service gets from `shared.http.create_app` (problem details for bodies that are not
JSON, 404/405, body limits, token checks before the body, correlation ids, idempotency keys,
/healthz, /readyz, /metrics, the documented problems) is tested without planning, in
test_http_plumbing.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from tests.api import (
    BAD_CREDENTIALS,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    backend_url,
    names_field,
)
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import auth, serving
from tests.services import planning_app

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")
ADMIN = auth("admin")
KOMMUNE_FORFRA = {
    "title": "Kommune forfra",
    "owner": "Borgmesterens Afdeling",
    "sender": "Aarhus Kommune",
}


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def drafted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[httpx.AsyncClient, dict, dict]]:
    """One service per backend holding two approvable drafts: the plan under test and another
    plan whose audience, message and channel must not leak into it. Shared by the many
    bad-input cases (each checks that it changed nothing), to keep the suite fast."""
    async with serving(planning_app(backend_url(request, tmp_path_factory))) as client:
        made = await create_approvable_plan(client)
        other = await create_approvable_plan(client)
        yield client, made, other


async def plan_state(client: httpx.AsyncClient, plan_id: str) -> tuple[dict, str]:
    response = await client.get(f"/v1/plans/{plan_id}", headers=PLANNER)
    assert response.status_code == 200, response.text
    return response.json(), response.headers.get("etag", "")


async def plan_total(client: httpx.AsyncClient) -> int:
    response = await client.get("/v1/plans", headers=PLANNER)
    assert response.status_code == 200, response.text
    return response.json()["total"]


# --- bad input to every POST ----------------------------------------------------------------

Body = Callable[[dict, dict], Any]  # (made, other) -> request body
DROP = object()  # a field to leave out of an otherwise valid body

ACTIVITY = {
    "title": "Velfærdens innovationsdag",
    "kind": "event",
    "starts_at": "2016-01-20T09:00:00+01:00",
    "event": {"format": "theme_day", "capacity": 300},
}


def valid(base: dict, changes: dict) -> dict:
    body = {**base, **changes}
    return {key: value for key, value in body.items() if value is not DROP}


def activity(made: dict, **changes: Any) -> dict:
    refs = {
        "audience_id": made["audience"]["id"],
        "message_id": made["message"]["id"],
        "channel_id": made["channel"]["id"],
    }
    return valid({**ACTIVITY, **refs}, changes)


def event_details(**changes: Any) -> dict:
    return valid({"format": "theme_day", "capacity": 300}, changes)


def message(made: dict, **changes: Any) -> dict:
    base = {
        "audience_id": made["audience"]["id"],
        "subject": "Rethink velfærd",
        "body": "Kom til innovationsdagen.",
    }
    return valid(base, changes)


def without(body: dict, key: str) -> dict:
    return valid(body, {key: DROP})


PLAN_CASES: dict[str, tuple[Body, str]] = {
    "missing title": (lambda m, o: without(KOMMUNE_FORFRA, "title"), "title"),
    "missing owner": (lambda m, o: without(KOMMUNE_FORFRA, "owner"), "owner"),
    "missing sender": (lambda m, o: without(KOMMUNE_FORFRA, "sender"), "sender"),
    "title is a number": (lambda m, o: {**KOMMUNE_FORFRA, "title": 2015}, "title"),
    "owner is null": (lambda m, o: {**KOMMUNE_FORFRA, "owner": None}, "owner"),
    "title is empty": (lambda m, o: {**KOMMUNE_FORFRA, "title": ""}, "title"),
    "title is only spaces": (lambda m, o: {**KOMMUNE_FORFRA, "title": "   "}, "title"),
    "title too long": (lambda m, o: {**KOMMUNE_FORFRA, "title": "K" * 301}, "title"),
    "unknown field": (lambda m, o: {**KOMMUNE_FORFRA, "budget": 250000}, "budget"),
    "status set by the client": (lambda m, o: {**KOMMUNE_FORFRA, "status": "approved"}, "status"),
}

AUDIENCE_CASES: dict[str, tuple[Body, str]] = {
    "missing name": (lambda m, o: {"needs": "Fagligt og brugbart"}, "name"),
    "name is a number": (lambda m, o: {"name": 28000}, "name"),
    "name is empty": (lambda m, o: {"name": ""}, "name"),
    "needs is a list": (lambda m, o: {"name": "Borgere", "needs": ["forståeligt"]}, "needs"),
    "unknown field": (lambda m, o: {"name": "Borgere", "size": 28000}, "size"),
}

MESSAGE_CASES: dict[str, tuple[Body, str]] = {
    "missing audience_id": (lambda m, o: message(m, audience_id=DROP), "audience_id"),
    "missing subject": (lambda m, o: message(m, subject=DROP), "subject"),
    "missing body": (lambda m, o: message(m, body=DROP), "body"),
    "subject is empty": (lambda m, o: message(m, subject=""), "subject"),
    "body is a number": (lambda m, o: message(m, body=42), "body"),
    "unknown audience": (lambda m, o: message(m, audience_id="no-such-audience"), "audience_id"),
    "another plan's audience": (
        lambda m, o: message(m, audience_id=o["audience"]["id"]),
        "audience_id",
    ),
    "unknown field": (lambda m, o: message(m, tone="plain language"), "tone"),
}

CHANNEL_CASES: dict[str, tuple[Body, str]] = {
    "missing kind": (lambda m, o: {"name": "Nyhedsbrev"}, "kind"),
    "missing name": (lambda m, o: {"kind": "newsletter"}, "name"),
    "unknown kind": (lambda m, o: {"kind": "fax", "name": "Fax"}, "kind"),
    "kind is a number": (lambda m, o: {"kind": 1, "name": "Nyhedsbrev"}, "kind"),
    "unknown field": (
        lambda m, o: {"kind": "newsletter", "name": "Tendens", "recipients": 1000},
        "recipients",
    ),
}

ACTIVITY_CASES: dict[str, tuple[Body, str]] = {
    "missing title": (lambda m, o: activity(m, title=DROP), "title"),
    "missing kind": (lambda m, o: activity(m, kind=DROP), "kind"),
    "missing starts_at": (lambda m, o: activity(m, starts_at=DROP), "starts_at"),
    "title is a list": (lambda m, o: activity(m, title=["Temadag"]), "title"),
    "unknown kind": (lambda m, o: activity(m, kind="webinar"), "kind"),
    "naive starts_at": (lambda m, o: activity(m, starts_at="2016-01-20T09:00:00"), "starts_at"),
    "date-only starts_at": (lambda m, o: activity(m, starts_at="2016-01-20"), "starts_at"),
    "starts_at is prose": (lambda m, o: activity(m, starts_at="januar 2016"), "starts_at"),
    "unknown audience": (lambda m, o: activity(m, audience_id="no-such-id"), "audience_id"),
    "unknown message": (lambda m, o: activity(m, message_id="no-such-id"), "message_id"),
    "unknown channel": (lambda m, o: activity(m, channel_id="no-such-id"), "channel_id"),
    "another plan's audience": (
        lambda m, o: activity(m, audience_id=o["audience"]["id"]),
        "audience_id",
    ),
    "another plan's message": (
        lambda m, o: activity(m, message_id=o["message"]["id"]),
        "message_id",
    ),
    "another plan's channel": (
        lambda m, o: activity(m, channel_id=o["channel"]["id"]),
        "channel_id",
    ),
    "unknown event format": (
        lambda m, o: activity(m, event=event_details(format="gala")),
        "event.format",
    ),
    "title too long": (lambda m, o: activity(m, title="T" * 301), "title"),
    "capacity over the maximum": (
        lambda m, o: activity(m, event=event_details(capacity=100_001)),
        "event.capacity",
    ),
    "zero capacity": (lambda m, o: activity(m, event=event_details(capacity=0)), "event.capacity"),
    "negative capacity": (
        lambda m, o: activity(m, event=event_details(capacity=-300)),
        "event.capacity",
    ),
    "capacity is prose": (
        lambda m, o: activity(m, event=event_details(capacity="300 pladser")),
        "event.capacity",
    ),
    "event without capacity": (
        lambda m, o: activity(m, event=event_details(capacity=DROP)),
        "event.capacity",
    ),
    "unknown event field": (
        lambda m, o: activity(m, event=event_details(catering=True)),
        "event.catering",
    ),
    "unknown field": (lambda m, o: activity(m, budget=50000), "budget"),
}

SUBRESOURCE_CASES = [
    pytest.param(path, body, field, id=f"{path}: {name}")
    for path, cases in [
        ("audiences", AUDIENCE_CASES),
        ("messages", MESSAGE_CASES),
        ("channels", CHANNEL_CASES),
        ("activities", ACTIVITY_CASES),
    ]
    for name, (body, field) in cases.items()
]


@pytest.mark.parametrize(
    ("body", "field"), [pytest.param(b, f, id=name) for name, (b, f) in PLAN_CASES.items()]
)
async def test_a_bad_new_plan_is_a_422_problem_naming_the_field_and_creates_nothing(
    drafted: tuple[httpx.AsyncClient, dict, dict], body: Body, field: str
) -> None:
    client, made, other = drafted
    before = await plan_total(client)

    response = await client.post("/v1/plans", json=body(made, other), headers=PLANNER)

    assert_invalid(response, field)
    assert await plan_total(client) == before


@pytest.mark.parametrize(("path", "body", "field"), SUBRESOURCE_CASES)
async def test_a_bad_addition_to_a_plan_is_a_422_problem_naming_the_field_and_changes_nothing(
    drafted: tuple[httpx.AsyncClient, dict, dict], path: str, body: Body, field: str
) -> None:
    client, made, other = drafted
    plan_id = made["plan"]["id"]
    before, etag_before = await plan_state(client, plan_id)

    response = await client.post(
        f"/v1/plans/{plan_id}/{path}", json=body(made, other), headers=PLANNER
    )

    assert_invalid(response, field)
    after, etag_after = await plan_state(client, plan_id)
    assert after == before
    assert after["version"] == before["version"] and etag_after == etag_before


# --- unknown ids, unknown routes ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "", None),
        ("POST", "/audiences", {"name": "Borgere"}),
        ("POST", "/messages", {"audience_id": "x", "subject": "Rethink velfærd", "body": "Kom."}),
        ("POST", "/channels", {"kind": "newsletter", "name": "Nyhedsbrev"}),
        ("POST", "/activities", {**ACTIVITY}),
        ("POST", "/approve", None),
    ],
    ids=["get", "audiences", "messages", "channels", "activities", "approve"],
)
async def test_an_unknown_plan_is_a_404_problem(
    planning: httpx.AsyncClient, method: str, path: str, body: dict | None
) -> None:
    response = await planning.request(
        method, f"/v1/plans/{uuid.uuid4()}{path}", json=body, headers=PLANNER
    )

    assert_problem(response, 404)
    assert await plan_total(planning) == 0


# --- authentication and roles ---------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/plans"),
    ("GET", "/v1/plans/{plan_id}"),
    ("POST", "/v1/plans"),
    ("POST", "/v1/plans/{plan_id}/audiences"),
    ("POST", "/v1/plans/{plan_id}/messages"),
    ("POST", "/v1/plans/{plan_id}/channels"),
    ("POST", "/v1/plans/{plan_id}/activities"),
    ("POST", "/v1/plans/{plan_id}/approve"),
]


def valid_body(path: str, made: dict) -> dict | None:
    return {
        "/v1/plans": KOMMUNE_FORFRA,
        "/v1/plans/{plan_id}/audiences": {"name": "Borgere", "needs": "Forståeligt og brugbart"},
        "/v1/plans/{plan_id}/messages": message(made),
        "/v1/plans/{plan_id}/channels": {"kind": "op_ed", "name": "Kronik i dagbladene"},
        "/v1/plans/{plan_id}/activities": activity(made, title="Byrådets temadrøftelse"),
    }.get(path)


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_every_v1_route_needs_a_valid_bearer_token(
    planning: httpx.AsyncClient, credentials: dict[str, str]
) -> None:
    """Planning's routes, each guarded (how each kind of bad credentials is refused is the
    shared plumbing's, test_http_plumbing.py)."""
    made = await create_approvable_plan(planning)
    plan_id = made["plan"]["id"]
    before, etag = await plan_state(planning, plan_id)

    for method, template in ROUTES:
        response = await planning.request(
            method,
            template.format(plan_id=plan_id),
            json=valid_body(template, made),
            headers=credentials,
        )
        assert_unauthorized(response)

    assert await plan_state(planning, plan_id) == (before, etag)
    assert await plan_total(planning) == 1


@pytest.mark.parametrize("role", ["analyst", "event_manager", "communicator", "unknown_role"])
async def test_only_planners_and_admins_change_plans(
    planning: httpx.AsyncClient, role: str
) -> None:
    made = await create_approvable_plan(planning)
    plan_id = made["plan"]["id"]
    before, etag = await plan_state(planning, plan_id)

    for method, template in ROUTES:
        if method != "POST":
            continue
        response = await planning.request(
            method,
            template.format(plan_id=plan_id),
            json=valid_body(template, made),
            headers=auth(role),
        )
        problem = assert_problem(response, 403)
        assert problem.get("detail"), problem

    assert await plan_state(planning, plan_id) == (before, etag)
    assert await plan_total(planning) == 1


@pytest.mark.parametrize("role", ["analyst", "event_manager", "communicator", "planner", "admin"])
async def test_every_staff_role_may_read_plans(planning: httpx.AsyncClient, role: str) -> None:
    plan = await create_plan(planning)

    listed = await planning.get("/v1/plans", headers=auth(role))
    shown = await planning.get(f"/v1/plans/{plan['id']}", headers=auth(role))

    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert shown.status_code == 200 and shown.json()["title"] == "Kommune forfra"


async def test_an_admin_may_draft_and_approve_a_whole_plan(planning: httpx.AsyncClient) -> None:
    created = await planning.post("/v1/plans", json=KOMMUNE_FORFRA, headers=ADMIN)
    assert created.status_code == 201, created.text
    url = f"/v1/plans/{created.json()['id']}"

    async def add(path: str, body: dict) -> dict:
        response = await planning.post(f"{url}/{path}", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        return response.json()

    await add(
        "goals",
        {
            "description": "Directors take part",
            "metric": "participants",
            "target": 20,
            "unit": "people",
        },
    )
    audience = await add("audiences", {"name": "Kommunale direktører", "needs": "Fagligt"})
    msg = await add(
        "messages",
        {"audience_id": audience["id"], "subject": "Rethink velfærd", "body": "Rundbordssamtale."},
    )
    channel = await add("channels", {"kind": "meeting", "name": "Rundbordssamtale"})
    await add(
        "activities",
        {
            "title": "Rundbordssamtale for kommunaldirektører",
            "kind": "event",
            "starts_at": "2016-01-20T13:00:00+01:00",
            "event": {"format": "round_table", "capacity": 20},
            "audience_id": audience["id"],
            "message_id": msg["id"],
            "channel_id": channel["id"],
        },
    )

    approved = await planning.post(f"{url}/approve", headers=ADMIN)

    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    assert approved.json()["approved_by"] == "tester"


# --- approval rules -------------------------------------------------------------------------


async def test_a_plan_without_activities_cannot_be_approved(planning_db: httpx.AsyncClient) -> None:
    plan = await create_plan(planning_db)
    before, etag = await plan_state(planning_db, plan["id"])

    response = await planning_db.post(f"/v1/plans/{plan['id']}/approve", headers=PLANNER)

    assert_invalid(response, "activities")
    assert await plan_state(planning_db, plan["id"]) == (before, etag)
    assert before["status"] == "draft"


async def test_approval_lists_each_missing_audience_message_and_channel(
    planning_db: httpx.AsyncClient,
) -> None:
    """Goal, audience, message, channel for everything (DOMAIN.md principle 1): the approver
    is told every gap at once, per activity, not only the first one."""
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    url = f"/v1/plans/{plan_id}/activities"
    kronik = await planning_db.post(
        url,
        json={
            "title": "Kronik i de landsdækkende dagblade",
            "kind": "communication",
            "starts_at": "2015-09-01T06:00:00+02:00",
        },
        headers=PLANNER,
    )
    folkemoedet = await planning_db.post(
        url,
        json={
            "title": "Debat på Folkemødet",
            "kind": "event",
            "starts_at": "2016-06-16T14:00:00+02:00",
            "event": {"format": "festival_debate", "capacity": 120},
            "audience_id": made["audience"]["id"],
        },
        headers=PLANNER,
    )
    assert kronik.status_code == 201 and folkemoedet.status_code == 201
    before, etag = await plan_state(planning_db, plan_id)
    index = {a["id"]: i for i, a in enumerate(before["activities"])}
    gaps = [
        (kronik.json()["id"], "audience_id"),
        (kronik.json()["id"], "message_id"),
        (kronik.json()["id"], "channel_id"),
        (folkemoedet.json()["id"], "message_id"),
        (folkemoedet.json()["id"], "channel_id"),
    ]

    response = await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER)

    problem = assert_problem(response, 422)
    errors = problem.get("errors", [])

    def reported(activity_id: str, piece: str) -> bool:
        names = (activity_id, f"[{index[activity_id]}]")
        return any(
            names_field(e["field"], piece) and any(n in e["field"] for n in names) for e in errors
        )

    missing = [gap for gap in gaps if not reported(*gap)]
    assert not missing, f"gaps not reported: {missing}; problem: {problem}"
    assert len(errors) == len(gaps), problem  # the complete activities are not blamed
    assert await plan_state(planning_db, plan_id) == (before, etag)


async def test_an_event_activity_cannot_be_approved_without_its_format_and_capacity(
    planning_db: httpx.AsyncClient,
) -> None:
    """The events service cannot create an event without them: refused on creation, or at
    the latest on approval."""
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]

    created = await planning_db.post(
        f"/v1/plans/{plan_id}/activities",
        json=activity(made, title="Borgerkonference (unconference)", event=DROP),
        headers=PLANNER,
    )
    if created.status_code == 201:
        response = await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER)
        assert_invalid(response, "event")
        plan, _ = await plan_state(planning_db, plan_id)
        assert plan["status"] == "draft"
    else:
        assert_invalid(created, "event")


async def test_an_approved_plan_is_published_with_who_approved_it_and_when(
    planning_db: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    _, etag = await plan_state(planning_db, plan_id)

    response = await planning_db.post(
        f"/v1/plans/{plan_id}/approve", headers={**PLANNER, "If-Match": etag}
    )

    assert response.status_code == 200, response.text
    shown, _ = await plan_state(planning_db, plan_id)
    assert shown["status"] == "approved" and shown["approved_by"] == "tester"
    assert shown["approved_at"] is not None
    listed = await planning_db.get("/v1/plans", params={"status": "approved"}, headers=PLANNER)
    assert [p["id"] for p in listed.json()["items"]] == [plan_id]


APPROVED_PLAN_CHANGES = [
    ("audiences", lambda m: {"name": "Folketingspolitikere"}),
    ("messages", lambda m: message(m, subject="Ny vinkel")),
    ("channels", lambda m: {"kind": "social_media", "name": "LinkedIn"}),
    ("activities", lambda m: activity(m, title="Rethink-konferencen 2017")),
    (
        "goals",
        lambda m: {
            "description": "Rethink fills the hall",
            "metric": "registrations",
            "target": 500,
            "unit": "participants",
        },
    ),
]


@pytest.mark.parametrize(("path", "body"), APPROVED_PLAN_CHANGES)
async def test_a_change_to_an_approved_plan_needs_a_reason_and_who_agreed(
    planning_db: httpx.AsyncClient, path: str, body: Callable[[dict], dict]
) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    approved = await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER)
    assert approved.status_code == 200, approved.text
    before, etag = await plan_state(planning_db, plan_id)

    refused = await planning_db.post(
        f"/v1/plans/{plan_id}/{path}", json=body(made), headers=PLANNER
    )
    assert_problem(refused, 422)
    assert {e["field"] for e in refused.json()["errors"]} == {"reason", "agreed_by"}
    assert await plan_state(planning_db, plan_id) == (before, etag)

    agreed = {**body(made), "reason": "Asked for by the city council", "agreed_by": "Magistraten"}
    accepted = await planning_db.post(f"/v1/plans/{plan_id}/{path}", json=agreed, headers=PLANNER)
    assert accepted.status_code == 201, accepted.text
    after, _ = await plan_state(planning_db, plan_id)
    assert after["version"] == before["version"] + 1 and after["status"] == "approved"
    assert [(d["change"], d["agreed_by"]) for d in after["deviations"]] == [
        ({"activities": "activity_added"}.get(path, f"{path[:-1]}_added"), "Magistraten")
    ]


async def test_an_approved_plan_cannot_be_approved_again(planning_db: httpx.AsyncClient) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    assert (await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER)).is_success
    before, etag = await plan_state(planning_db, plan_id)

    assert_problem(await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER), 409)
    assert await plan_state(planning_db, plan_id) == (before, etag)


# --- ETag / If-Match ------------------------------------------------------------------------


async def test_a_plan_carries_an_etag_that_changes_with_every_write(
    planning_db: httpx.AsyncClient,
) -> None:
    created = await planning_db.post("/v1/plans", json=KOMMUNE_FORFRA, headers=PLANNER)
    assert created.status_code == 201, created.text
    plan_id = created.json()["id"]
    assert created.headers.get("etag"), created.headers
    assert created.headers.get("location", "").endswith(f"/v1/plans/{plan_id}")

    _, etag = await plan_state(planning_db, plan_id)
    assert etag == created.headers["etag"]
    assert (await plan_state(planning_db, plan_id))[1] == etag  # reading does not change it

    added = await planning_db.post(
        f"/v1/plans/{plan_id}/audiences", json={"name": "Borgere"}, headers=PLANNER
    )
    assert added.status_code == 201, added.text
    plan, etag_after_edit = await plan_state(planning_db, plan_id)
    assert etag_after_edit != etag
    assert plan["version"] > created.json()["version"]


async def test_approval_against_a_stale_etag_is_a_412_problem_and_changes_nothing(
    planning_db: httpx.AsyncClient,
) -> None:
    """The approver reviewed the plan; meanwhile a colleague added an activity. The approval
    must not cover what the approver never saw."""
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    _, reviewed = await plan_state(planning_db, plan_id)
    added = await planning_db.post(
        f"/v1/plans/{plan_id}/activities",
        json=activity(
            made,
            title="Debat på Folkemødet",
            starts_at="2016-06-16T14:00:00+02:00",
            event={"format": "festival_debate", "capacity": 120},
        ),
        headers=PLANNER,
    )
    assert added.status_code == 201, added.text
    before, current = await plan_state(planning_db, plan_id)

    response = await planning_db.post(
        f"/v1/plans/{plan_id}/approve", headers={**PLANNER, "If-Match": reviewed}
    )

    assert_problem(response, 412)
    assert await plan_state(planning_db, plan_id) == (before, current)
    assert before["status"] == "draft"


async def test_approval_against_the_current_etag_succeeds_and_returns_the_new_etag(
    planning_db: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    _, current = await plan_state(planning_db, plan_id)

    response = await planning_db.post(
        f"/v1/plans/{plan_id}/approve", headers={**PLANNER, "If-Match": current}
    )

    assert response.status_code == 200, response.text
    shown, etag = await plan_state(planning_db, plan_id)
    assert shown["status"] == "approved"
    assert response.headers.get("etag") == etag != current


@pytest.mark.parametrize(
    "if_match",
    [
        lambda etag: '"999"',
        lambda etag: '"not-a-version"',
        lambda etag: f"W/{etag}",
        # the current version written in ways int() reads but no ETag of ours is
        lambda etag: etag.strip('"'),
        lambda etag: f'"+{etag.strip(chr(34))}"',
        lambda etag: f'"0{etag.strip(chr(34))}"',
        lambda etag: f'"{etag.strip(chr(34))} "',
    ],
    ids=[
        "future version",
        "garbage",
        "weak form of the current",
        "unquoted",
        "plus sign",
        "leading zero",
        "space inside",
    ],
)
async def test_approval_against_an_etag_that_is_not_the_current_one_is_refused(
    planning: httpx.AsyncClient, if_match: Callable[[str], str]
) -> None:
    """If-Match uses the strong comparison (RFC 9110 13.1.1): a weak tag never matches."""
    made = await create_approvable_plan(planning)
    plan_id = made["plan"]["id"]
    before, etag = await plan_state(planning, plan_id)

    response = await planning.post(
        f"/v1/plans/{plan_id}/approve", headers={**PLANNER, "If-Match": if_match(etag)}
    )

    assert_problem(response, 412)
    assert await plan_state(planning, plan_id) == (before, etag)


async def test_if_match_star_approves_an_existing_plan(planning: httpx.AsyncClient) -> None:
    made = await create_approvable_plan(planning)

    response = await planning.post(
        f"/v1/plans/{made['plan']['id']}/approve", headers={**PLANNER, "If-Match": "*"}
    )

    assert response.status_code == 200, response.text


async def test_an_activity_cannot_carry_a_message_written_for_another_audience(
    planning_db: httpx.AsyncClient,
) -> None:
    """A message is written for one audience (its needs, its tone): sending the staff message
    to the press is a planning error, refused on creation or at the latest on approval."""
    made = await create_approvable_plan(planning_db)
    plan_id = made["plan"]["id"]
    press = await planning_db.post(
        f"/v1/plans/{plan_id}/audiences",
        json={"name": "Pressen", "needs": "Hurtigt, fakta, viden"},
        headers=PLANNER,
    )
    assert press.status_code == 201, press.text

    created = await planning_db.post(
        f"/v1/plans/{plan_id}/activities",
        json=activity(
            made,
            title="Pressemeddelelse om innovationsdagen",
            kind="communication",
            event=DROP,
            audience_id=press.json()["id"],
        ),
        headers=PLANNER,
    )

    if created.status_code == 201:
        response = await planning_db.post(f"/v1/plans/{plan_id}/approve", headers=PLANNER)
        assert_invalid(response, "message_id")
    else:
        assert_invalid(created, "message_id")


# --- concurrency ----------------------------------------------------------------------------


async def test_concurrent_approvals_against_the_same_etag_approve_once(
    planning_http: httpx.AsyncClient,
) -> None:
    """Two approvers press "approve" on the version they both reviewed: one wins, the other is
    told the plan changed (412) or is approved already (409). The plan is published once."""
    made = await create_approvable_plan(planning_http)
    plan_id = made["plan"]["id"]
    before, reviewed = await plan_state(planning_http, plan_id)

    responses = await asyncio.gather(
        *[
            planning_http.post(
                f"/v1/plans/{plan_id}/approve", headers={**PLANNER, "If-Match": reviewed}
            )
            for _ in range(5)
        ]
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 412}, statuses
    after, _ = await plan_state(planning_http, plan_id)
    assert after["status"] == "approved"
    assert after["version"] == before["version"] + 1


async def test_concurrent_additions_each_get_their_own_version(
    planning_http: httpx.AsyncClient,
) -> None:
    """Five colleagues add audiences at the same moment: nothing is lost, and every state the
    plan went through has its own version, so an ETag always identifies what was reviewed."""
    plan = await create_plan(planning_http)
    before, _ = await plan_state(planning_http, plan["id"])
    names = ["Borgere", "Folketingspolitikere", "Byrådet", "Fagforbund", "Pressen"]

    responses = await asyncio.gather(
        *[
            planning_http.post(
                f"/v1/plans/{plan['id']}/audiences", json={"name": name}, headers=PLANNER
            )
            for name in names
        ]
    )

    assert [r.status_code for r in responses] == [201] * len(names), [r.text for r in responses]
    after, _ = await plan_state(planning_http, plan["id"])
    assert sorted(a["name"] for a in after["audiences"]) == sorted(names)
    assert after["version"] == before["version"] + len(names)


# --- robustness: hostile or odd input is a 4xx, never a 500 -----------------------------------


async def test_odd_ids_and_huge_offsets_are_client_errors_not_crashes(
    planning_http: httpx.AsyncClient,
) -> None:
    odd = {
        "NUL in the id": await planning_http.get("/v1/plans/abc%00def", headers=PLANNER),
        "5,000-character id": await planning_http.get(f"/v1/plans/{'x' * 5000}", headers=PLANNER),
        "offset beyond 64 bits": await planning_http.get(
            "/v1/plans", params={"offset": 2**63}, headers=PLANNER
        ),
        "limit beyond 64 bits": await planning_http.get(
            "/v1/plans", params={"limit": 2**64}, headers=PLANNER
        ),
    }

    crashes = {name: r.text for name, r in odd.items() if r.status_code >= 500}
    assert not crashes, f"500 for: {sorted(crashes)}; first: {next(iter(crashes.values()), '')}"


async def test_text_with_a_nul_character_is_a_422_problem_on_every_backend(
    planning_http: httpx.AsyncClient,
) -> None:
    """PostgreSQL cannot store U+0000 in text; the API must refuse it the same way everywhere
    rather than store it on SQLite and crash on PostgreSQL."""
    made = await create_approvable_plan(planning_http)
    url = f"/v1/plans/{made['plan']['id']}"
    before, etag = await plan_state(planning_http, made["plan"]["id"])
    attempts = {
        "plan title": ("/v1/plans", {**KOMMUNE_FORFRA, "title": "Kommune\x00forfra"}, "title"),
        "audience name": (f"{url}/audiences", {"name": "Borgere\x00"}, "name"),
        "message body": (f"{url}/messages", message(made, body="Kom\x00"), "body"),
        "channel name": (f"{url}/channels", {"kind": "web", "name": "aarhus.dk\x00"}, "name"),
        "activity title": (f"{url}/activities", activity(made, title="Temadag\x00"), "title"),
    }

    outcomes = {}
    for name, (path, body, field) in attempts.items():
        response = await planning_http.post(path, json=body, headers=PLANNER)
        fields = [e["field"] for e in response.json().get("errors", [])]
        named = response.status_code == 422 and any(names_field(f, field) for f in fields)
        outcomes[name] = "422 naming the field" if named else f"{response.status_code}"

    assert set(outcomes.values()) == {"422 naming the field"}, outcomes
    assert await plan_state(planning_http, made["plan"]["id"]) == (before, etag)
    assert await plan_total(planning_http) == 1


# --- pagination -----------------------------------------------------------------------------

TITLES = [
    "Kommune forfra",
    "Velfærdens innovationsdag",
    "Folkemødet 2016",
    "Rethink public service 2017",
    "Tendens 2016",
    "Borgerkonference",
    "Kommunikationsstrategi 2013-2015",
]


async def test_pages_cover_every_plan_once_in_a_stable_order_with_the_right_total(
    planning_db: httpx.AsyncClient,
) -> None:
    for title in TITLES:
        response = await planning_db.post(
            "/v1/plans", json={**KOMMUNE_FORFRA, "title": title}, headers=PLANNER
        )
        assert response.status_code == 201, response.text

    everything = await planning_db.get("/v1/plans", params={"limit": 200}, headers=ANALYST)
    assert everything.json()["total"] == len(TITLES)
    order = [p["id"] for p in everything.json()["items"]]
    assert len(order) == len(TITLES)

    paged: list[str] = []
    for offset in range(0, len(TITLES), 3):
        page = await planning_db.get(
            "/v1/plans", params={"limit": 3, "offset": offset}, headers=ANALYST
        )
        assert page.status_code == 200, page.text
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (len(TITLES), 3, offset)
        paged += [p["id"] for p in body["items"]]

    assert paged == order
    again = await planning_db.get("/v1/plans", params={"limit": 200}, headers=ANALYST)
    assert [p["id"] for p in again.json()["items"]] == order

    beyond = await planning_db.get("/v1/plans", params={"offset": 50}, headers=ANALYST)
    assert beyond.status_code == 200
    assert beyond.json()["items"] == [] and beyond.json()["total"] == len(TITLES)


async def test_the_default_page_says_its_size(planning: httpx.AsyncClient) -> None:
    body = (await planning.get("/v1/plans", headers=ANALYST)).json()
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "alle"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "start"}, "offset"),
        ({"status": "published"}, "status"),
    ],
    ids=["limit 0", "limit -1", "limit 201", "limit text", "offset -1", "offset text", "status"],
)
async def test_out_of_range_paging_and_filters_are_422_problems_naming_the_parameter(
    planning: httpx.AsyncClient, params: dict, field: str
) -> None:
    assert_invalid(await planning.get("/v1/plans", params=params, headers=ANALYST), field)


async def test_the_largest_page_is_allowed(planning: httpx.AsyncClient) -> None:
    response = await planning.get("/v1/plans", params={"limit": 200}, headers=ANALYST)
    assert response.status_code == 200 and response.json()["limit"] == 200


async def test_listing_filters_by_status(planning: httpx.AsyncClient) -> None:
    approved = await create_approvable_plan(planning)
    drafts = [await create_plan(planning) for _ in range(2)]
    response = await planning.post(f"/v1/plans/{approved['plan']['id']}/approve", headers=PLANNER)
    assert response.status_code == 200, response.text

    def listing(status: str):  # type: ignore[no-untyped-def]
        return planning.get("/v1/plans", params={"status": status}, headers=ANALYST)

    only_approved = (await listing("approved")).json()
    only_drafts = (await listing("draft")).json()
    assert [p["id"] for p in only_approved["items"]] == [approved["plan"]["id"]]
    assert only_approved["total"] == 1
    assert {p["id"] for p in only_drafts["items"]} == {d["id"] for d in drafts}
    assert only_drafts["total"] == 2


# --- the OpenAPI document ---------------------------------------------------------------------


async def test_openapi_documents_the_problems_of_approval(planning: httpx.AsyncClient) -> None:
    """Problem details are part of the contract. That every /v1 route documents 401, writes
    403 and routes naming a resource 404 is the shared plumbing's (test_http_plumbing.py);
    approval's own conflicts are planning's: 409 (approved already) and 412 (a stale ETag)."""
    paths = (await planning.get("/openapi.json")).json()["paths"]

    responses = paths["/v1/plans/{plan_id}/approve"]["post"]["responses"]

    missing = {"401", "403", "404", "409", "412"} - set(responses)
    assert not missing, f"responses missing from the OpenAPI document of approval: {missing}"
