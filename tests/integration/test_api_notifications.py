"""The notifications HTTP API: contacts with consent, and the deliveries made to them.

A contact is a person who may receive e-mail about a plan's activities: a recipient of the
newsletter "Tendens" (almost 1,000 of them, a third in job centres) or one of Aarhus
Kommune's employees. Contacts are personal data: only communicators and admins create them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from tests.api import (
    BAD_CREDENTIALS,
    UNREACHABLE_BROKER,
    assert_invalid,
    assert_problem,
    assert_route_counted,
    assert_unauthorized,
    backend_url,
    chunks,
    prometheus_samples,
    serving_over_http,
    sqlite_url,
)
from tests.helpers import auth, serving, settings_for

pytestmark = pytest.mark.integration

COMMUNICATOR = auth("communicator")
ANALYST = auth("analyst")
JOBCENTER_AUDIENCE = "audience-jobcentre-managers"


def tendens_reader(**changes: Any) -> dict[str, Any]:
    body = {
        "email": f"leder.{uuid.uuid4().hex[:8]}@jobcenter-aarhus.example",
        "name": "Jobcenterchef Aarhus",
        "email_consent": True,
        "audience_ids": [JOBCENTER_AUDIENCE],
        **changes,
    }
    return body


def notifications_app(database_url: str, **extra: Any):  # type: ignore[no-untyped-def]
    return create_app(
        settings_for(NotificationsSettings, database_url, UNREACHABLE_BROKER, **extra)
    )


@pytest.fixture
async def notifications(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(notifications_app(sqlite_url(tmp_path, "notifications"))) as client:
        yield client


@pytest.fixture
async def notifications_db(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(notifications_app(database_url)) as client:
        yield client


@pytest.fixture
async def notifications_http(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Each backend, seen as a real client sees it (a crash is a 500 response)."""
    async with serving_over_http(notifications_app(database_url)) as client:
        yield client


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def contacts_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    """One service per backend shared by the bad-input cases (each proves it stored nothing)."""
    async with serving(notifications_app(backend_url(request, tmp_path_factory))) as client:
        yield client


async def create_contact(client: httpx.AsyncClient, body: dict, headers=COMMUNICATOR) -> dict:  # type: ignore[no-untyped-def]
    response = await client.post("/v1/contacts", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- creating and reading contacts ----------------------------------------------------------


async def test_a_communicator_adds_a_contact_and_reads_it_back(
    notifications_db: httpx.AsyncClient,
) -> None:
    body = tendens_reader()

    response = await notifications_db.post("/v1/contacts", json=body, headers=COMMUNICATOR)

    assert response.status_code == 201, response.text
    contact = response.json()
    assert contact["email"] == body["email"] and contact["name"] == "Jobcenterchef Aarhus"
    assert contact["email_consent"] is True
    assert contact["audience_ids"] == [JOBCENTER_AUDIENCE]
    assert response.headers.get("location", "").endswith(f"/v1/contacts/{contact['id']}")
    shown = await notifications_db.get(f"/v1/contacts/{contact['id']}", headers=COMMUNICATOR)
    assert shown.status_code == 200
    assert shown.json() == contact


async def test_a_second_contact_with_the_same_email_is_a_409_problem(
    notifications_db: httpx.AsyncClient,
) -> None:
    first = await create_contact(notifications_db, tendens_reader())

    again = await notifications_db.post(
        "/v1/contacts",
        json=tendens_reader(email=first["email"], name="Someone else", email_consent=False),
        headers=COMMUNICATOR,
    )

    assert_problem(again, 409)
    shown = await notifications_db.get(f"/v1/contacts/{first['id']}", headers=COMMUNICATOR)
    assert shown.json() == first  # the consent on record was not overwritten


async def test_an_email_differing_only_in_the_domains_case_is_the_same_address(
    notifications_db: httpx.AsyncClient,
) -> None:
    """Domain names are case-insensitive (RFC 5321 2.4): one person, one contact."""
    first = await create_contact(notifications_db, tendens_reader())
    local, domain = first["email"].split("@")

    again = await notifications_db.post(
        "/v1/contacts",
        json=tendens_reader(email=f"{local}@{domain.upper()}"),
        headers=COMMUNICATOR,
    )

    assert_problem(again, 409)


BAD_CONTACTS = {
    "no at sign": ({"email": "jobcenter.aarhus.example"}, "email"),
    "no domain": ({"email": "leder@"}, "email"),
    "no local part": ({"email": "@jobcenter-aarhus.example"}, "email"),
    "space inside": ({"email": "leder jobcenter@aarhus.example"}, "email"),
    "two addresses": ({"email": "a@aarhus.example, b@aarhus.example"}, "email"),
    "empty email": ({"email": ""}, "email"),
    "email is a number": ({"email": 1000}, "email"),
}

BAD_FIELDS = {
    "missing name": ({"name": None}, "name"),
    "empty name": ({"name": ""}, "name"),
    "missing consent": ({"email_consent": None}, "email_consent"),
    "consent is prose": ({"email_consent": "måske"}, "email_consent"),
    "audiences is a string": ({"audience_ids": JOBCENTER_AUDIENCE}, "audience_ids"),
    "too many audiences": ({"audience_ids": [f"a{i}" for i in range(101)]}, "audience_ids"),
    "unknown field": ({"fax": "+45 89 40 20 00"}, "fax"),
    "phone is not a number": ({"phone": "ring efter kl. 10"}, "phone"),
    "language is neither": ({"language": "de"}, "language"),
}


def drop_none(body: dict) -> dict:
    return {key: value for key, value in body.items() if value is not None}


@pytest.mark.parametrize(
    ("changes", "field"),
    [pytest.param(*case, id=name) for name, case in {**BAD_CONTACTS, **BAD_FIELDS}.items()],
)
async def test_a_bad_contact_is_a_422_problem_naming_the_field_and_stores_nothing(
    contacts_service: httpx.AsyncClient, changes: dict, field: str
) -> None:
    email = f"tendens.{uuid.uuid4().hex[:8]}@aarhus.example"
    body = drop_none({**tendens_reader(email=email), **changes})

    response = await contacts_service.post("/v1/contacts", json=body, headers=COMMUNICATOR)

    assert_invalid(response, field)
    # nothing was stored: the address is still free
    if "email" not in changes:
        await create_contact(contacts_service, tendens_reader(email=email))


@pytest.mark.parametrize(
    "payload",
    [b'{"email": "leder@aarhus.example", "name": ', b"email=leder@aarhus.example"],
    ids=["truncated", "form encoded"],
)
async def test_a_body_that_is_not_json_is_a_400_problem(
    notifications: httpx.AsyncClient, payload: bytes
) -> None:
    response = await notifications.post(
        "/v1/contacts",
        content=payload,
        headers={**COMMUNICATOR, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


async def test_an_unknown_contact_is_a_404_problem(notifications: httpx.AsyncClient) -> None:
    response = await notifications.get(f"/v1/contacts/{uuid.uuid4()}", headers=COMMUNICATOR)
    assert_problem(response, 404)


async def test_the_same_person_added_twice_at_once_is_one_contact_and_conflicts(
    notifications_http: httpx.AsyncClient,
) -> None:
    """Two communicators import the same newsletter reader at the same moment."""
    body = tendens_reader()

    responses = await asyncio.gather(
        *[
            notifications_http.post("/v1/contacts", json=body, headers=COMMUNICATOR)
            for _ in range(4)
        ]
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [(r.status_code, r.text) for r in responses]


async def test_odd_input_is_a_client_error_not_a_crash(
    notifications_http: httpx.AsyncClient,
) -> None:
    odd = {
        "NUL in the contact id": await notifications_http.get(
            "/v1/contacts/abc%00def", headers=COMMUNICATOR
        ),
        "NUL in the name": await notifications_http.post(
            "/v1/contacts", json=tendens_reader(name="Jobcenterchef\x00"), headers=COMMUNICATOR
        ),
        "NUL in an audience id": await notifications_http.post(
            "/v1/contacts", json=tendens_reader(audience_ids=["a\x00"]), headers=COMMUNICATOR
        ),
        "delivery offset beyond 64 bits": await notifications_http.get(
            "/v1/deliveries", params={"offset": 2**63}, headers=ANALYST
        ),
        "NUL in the delivery filter": await notifications_http.get(
            "/v1/deliveries", params={"plan_id": "abc\x00"}, headers=ANALYST
        ),
    }

    crashes = {name: r.text for name, r in odd.items() if r.status_code >= 500}
    assert not crashes, f"500 for: {sorted(crashes)}; first: {next(iter(crashes.values()), '')}"


# --- bounded bodies -------------------------------------------------------------------------


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = notifications_app(sqlite_url(tmp_path, "notifications"), max_body_bytes=1024)
    async with serving(app) as client:
        yield client


def padded_contact(email: str, size: int) -> bytes:
    core = f'{{"email": "{email}", "name": "Jobcenterchef", "email_consent": true'.encode()
    return core + b" " * (size - len(core) - 1) + b"}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_contact_body_over_the_limit_is_a_413_problem_and_stores_nothing(
    bounded: httpx.AsyncClient, chunked: bool
) -> None:
    email = "leder@jobcenter-aarhus.example"
    payload = padded_contact(email, 3 * 1024)

    response = await bounded.post(
        "/v1/contacts",
        content=chunks(payload) if chunked else payload,
        headers={**COMMUNICATOR, "Content-Type": "application/json"},
    )

    assert_problem(response, 413)
    await create_contact(bounded, tendens_reader(email=email))  # the address is still free


# --- authentication and roles ---------------------------------------------------------------


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_every_v1_route_needs_a_valid_bearer_token(
    notifications: httpx.AsyncClient, credentials: dict[str, str]
) -> None:
    contact = await create_contact(notifications, tendens_reader())

    for method, path, body in [
        ("POST", "/v1/contacts", tendens_reader()),
        ("GET", f"/v1/contacts/{contact['id']}", None),
        ("GET", "/v1/deliveries", None),
    ]:
        response = await notifications.request(method, path, json=body, headers=credentials)
        assert_unauthorized(response)


@pytest.mark.parametrize("role", ["planner", "analyst", "event_manager"])
async def test_only_communicators_and_admins_create_contacts(
    notifications: httpx.AsyncClient, role: str
) -> None:
    email = f"borger.{uuid.uuid4().hex[:8]}@aarhus.example"

    response = await notifications.post(
        "/v1/contacts", json=tendens_reader(email=email), headers=auth(role)
    )

    assert_problem(response, 403)
    await create_contact(notifications, tendens_reader(email=email))  # nothing was stored


async def test_an_admin_may_create_and_read_contacts(notifications: httpx.AsyncClient) -> None:
    contact = await create_contact(notifications, tendens_reader(), headers=auth("admin"))

    shown = await notifications.get(f"/v1/contacts/{contact['id']}", headers=auth("admin"))

    assert shown.status_code == 200 and shown.json()["id"] == contact["id"]


# --- deliveries -----------------------------------------------------------------------------


async def test_deliveries_are_listed_in_pages_even_when_there_are_none(
    notifications: httpx.AsyncClient,
) -> None:
    response = await notifications.get("/v1/deliveries", headers=ANALYST)

    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "alle"}, "limit"),
        ({"offset": -1}, "offset"),
    ],
    ids=["limit 0", "limit 201", "limit text", "offset -1"],
)
async def test_out_of_range_delivery_paging_is_a_422_problem_naming_the_parameter(
    notifications: httpx.AsyncClient, params: dict, field: str
) -> None:
    response = await notifications.get("/v1/deliveries", params=params, headers=ANALYST)
    assert_invalid(response, field)


# --- operations -----------------------------------------------------------------------------


async def test_health_readiness_correlation_and_metrics(notifications: httpx.AsyncClient) -> None:
    assert (await notifications.get("/healthz")).status_code == 200
    ready = await notifications.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["broker"] != "ok"

    missing = str(uuid.uuid4())
    shown = await notifications.get(
        f"/v1/contacts/{missing}", headers={**COMMUNICATOR, "X-Correlation-ID": "tendens-42"}
    )
    assert shown.headers.get("x-correlation-id") == "tendens-42"

    exposition = (await notifications.get("/metrics")).text
    assert missing not in exposition
    samples = prometheus_samples(exposition, "budskab_http_requests_total")
    assert_route_counted(samples, "GET", "/v1/contacts/{contact_id}", "404")
