"""The HTTP plumbing every service gets from `shared.http.create_app`, met through a minimal
service of its own: one `/v1/things` resource (defined here), its own database, no broker.

Every error is an RFC 9457 problem (`application/problem+json`); a body that is not JSON is a
400, one declared as something else a 415, one of the wrong shape a 422; unknown routes and
methods are problems; bodies are bounded, whether or not Content-Length is sent or true;
bearer tokens are checked before roles and roles before the body; correlation ids go in and
out; an `Idempotency-Key` makes a retried POST answer once (an authenticated caller's: no
anonymous caller is answered another's response); a file is taken only by a route that declares
its media type, up to the file limit, every other body is held to the body limit; `/healthz`, `/readyz` and
`/metrics` need no token, and metrics count by route template; the OpenAPI document names the
problems. What a service makes of its own routes (planning's: tests/integration/
test_api_behaviour.py) is tested with that service.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from pydantic import Field

from shared.auth import CurrentPrincipal, Planner
from shared.db import create_engine
from shared.errors import NotFound
from shared.http import create_app, require_media_type
from shared.ids import new_id
from shared.schemas import ApiInput
from shared.settings import ServiceSettings
from shared.tables import service_metadata
from tests.api import (
    BAD_CREDENTIALS,
    UNREACHABLE_BROKER,
    assert_problem,
    assert_route_counted,
    assert_unauthorized,
    bearer,
    chunks,
    prometheus_samples,
    serving_over_http,
    sqlite_url,
)
from tests.helpers import SECRET, auth, listening, serving, settings_for

pytestmark = pytest.mark.integration

WRITER = auth("planner")  # the role the things' writes need (shared.auth.Planner)
READER = auth("analyst")  # a staff role that may read but not write
THING = {"name": "Velfærdens innovationsdag", "size": 300}


# --- the minimal service ---------------------------------------------------------------------

router = APIRouter(prefix="/v1/things", tags=["things"])


class ThingCreate(ApiInput):
    name: str = Field(min_length=1, max_length=100)
    size: int = Field(ge=0)


class PartCreate(ApiInput):
    name: str = Field(min_length=1, max_length=100)


class VoteCreate(ApiInput):
    choice: str = Field(min_length=1, max_length=20)


def _things(request: Request) -> dict[str, dict[str, Any]]:
    return request.app.state.things


Things = Annotated[dict[str, dict[str, Any]], Depends(_things)]


def _thing(things: dict[str, dict[str, Any]], thing_id: str) -> dict[str, Any]:
    if thing_id not in things:
        raise NotFound(f"no thing {thing_id}")
    return things[thing_id]


# the body first, the caller last: as the services declare their writes
@router.post("", status_code=status.HTTP_201_CREATED)
async def create_thing(
    body: ThingCreate, things: Things, _: Planner, response: Response
) -> dict[str, Any]:
    thing = {"id": new_id(), **body.model_dump(), "parts": [], "inventories": [], "votes": []}
    things[thing["id"]] = thing
    response.headers["Location"] = f"/v1/things/{thing['id']}"
    return thing


@router.get("")
async def list_things(things: Things, _: CurrentPrincipal) -> dict[str, Any]:
    return {"items": list(things.values()), "total": len(things)}


@router.get("/{thing_id}")
async def get_thing(thing_id: str, things: Things, _: CurrentPrincipal) -> dict[str, Any]:
    return _thing(things, thing_id)


@router.post("/{thing_id}/parts", status_code=status.HTTP_201_CREATED)
async def add_part(thing_id: str, body: PartCreate, things: Things, _: Planner) -> dict[str, Any]:
    thing = _thing(things, thing_id)
    part = {"id": new_id(), **body.model_dump()}
    thing["parts"].append(part)
    return part


CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


# a route that takes a file, declared as the services declare theirs (its body's media type)
@router.post("/{thing_id}/inventory", status_code=status.HTTP_202_ACCEPTED, openapi_extra=CSV_BODY)
async def take_inventory(
    thing_id: str, request: Request, things: Things, _: Planner, shelf: str = "main"
) -> dict[str, Any]:
    """A stock count as a CSV file, for one shelf (`?shelf=`)."""
    require_media_type(request, "text/csv")
    thing = _thing(things, thing_id)
    inventory = {"id": new_id(), "shelf": shelf, "bytes": len(await request.body())}
    thing["inventories"].append(inventory)
    return inventory


# a public write, no token (as a registration for an event): each answer holds a secret
@router.post("/{thing_id}/votes", status_code=status.HTTP_201_CREATED)
async def vote(thing_id: str, body: VoteCreate, things: Things) -> dict[str, Any]:
    thing = _thing(things, thing_id)
    cast = {"id": new_id(), **body.model_dump(), "link_token": uuid.uuid4().hex}
    thing["votes"].append(cast)
    return cast


class ThingsSettings(ServiceSettings):
    http_port: int = 8999
    consumer_group: str = "things"


METADATA = service_metadata()  # outbox, inbox, idempotency keys: what the runtime uses


async def things_app(database_url: str, **extra: Any) -> FastAPI:
    """The minimal service on a fresh database (its tables made here: it has no migrations),
    the broker unreachable; the things themselves are kept in memory, one store per app."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    await engine.dispose()
    settings = settings_for(
        ThingsSettings, database_url, UNREACHABLE_BROKER, migrate_on_start=False, **extra
    )
    app = create_app(
        settings,
        name="things",
        title="Things",
        description="A minimal service for the shared HTTP plumbing.",
        metadata=METADATA,
        migrations_dir=Path(__file__).parent,  # not used: migrate_on_start is off
        routers=[router],
    )
    app.state.things = {}
    return app


@pytest.fixture
async def things(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh minimal service on SQLite: for tests where storage is not the point."""
    async with serving(await things_app(sqlite_url(tmp_path, "things"))) as client:
        yield client


@pytest.fixture
async def things_db(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A fresh minimal service on each backend: the idempotency keys are kept there."""
    async with serving(await things_app(database_url)) as client:
        yield client


async def create_thing_via(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/v1/things", json=THING, headers=WRITER)
    assert response.status_code == 201, response.text
    return response.json()


async def thing_total(client: httpx.AsyncClient) -> int:
    response = await client.get("/v1/things", headers=WRITER)
    assert response.status_code == 200, response.text
    return response.json()["total"]


async def thing_state(client: httpx.AsyncClient, thing_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/things/{thing_id}", headers=WRITER)
    assert response.status_code == 200, response.text
    return response.json()


# --- bodies that are not what the route takes -------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b'{"name": "Velfaerdens innovationsdag", "size": ', id="truncated"),
        pytest.param(b"{'name': 'Velfaerdens innovationsdag'}", id="single quotes"),
        pytest.param(b"name=Velfaerdens+innovationsdag", id="form encoded"),
    ],
)
async def test_a_body_that_is_not_json_is_a_400_problem_and_creates_nothing(
    things: httpx.AsyncClient, payload: bytes
) -> None:
    """RFC 9110 keeps 422 for content whose syntax is correct; unparseable JSON is a 400."""
    response = await things.post(
        "/v1/things", content=payload, headers={**WRITER, "Content-Type": "application/json"}
    )

    problem = assert_problem(response, 400)
    assert "json" in (problem.get("detail") or "").lower(), problem
    assert await thing_total(things) == 0


async def test_a_json_body_sent_as_plain_text_is_a_415_problem(things: httpx.AsyncClient) -> None:
    """The body is a perfect thing, but declared as text/plain: RFC 9110 15.5.16 says 415, and
    the client learns what to fix (not "Input should be a valid dictionary")."""
    response = await things.post(
        "/v1/things",
        content=json.dumps(THING).encode(),
        headers={**WRITER, "Content-Type": "text/plain"},
    )

    assert_problem(response, 415)
    assert await thing_total(things) == 0


@pytest.mark.parametrize(
    "payload",
    [pytest.param([THING], id="array"), pytest.param("Velfærdens innovationsdag", id="string")],
)
async def test_a_json_body_that_is_not_an_object_is_a_422_problem(
    things: httpx.AsyncClient, payload: Any
) -> None:
    response = await things.post("/v1/things", json=payload, headers=WRITER)

    assert_problem(response, 422)
    assert await thing_total(things) == 0


# --- unknown routes, wrong methods ------------------------------------------------------------


async def test_an_unknown_route_and_a_wrong_method_are_problems(
    things: httpx.AsyncClient,
) -> None:
    thing = await create_thing_via(things)

    assert_problem(await things.get("/v1/no-such-collection", headers=WRITER), 404)
    not_allowed = await things.delete(f"/v1/things/{thing['id']}", headers=WRITER)
    assert_problem(not_allowed, 405)
    assert not_allowed.headers["allow"] == "GET, HEAD, OPTIONS"
    assert (await things.get(f"/v1/things/{thing['id']}", headers=WRITER)).status_code == 200


async def test_a_browser_outside_v1_gets_a_page_an_api_client_a_problem(
    things: httpx.AsyncClient,
) -> None:
    """A person following an expired link (or sending a form the browser broke) reads a
    page; what asks for JSON, or anything under /v1, gets problem+json."""
    as_browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await things.get("/reports/<script>", headers=as_browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="da">' in page.text and "<h1>Siden findes ikke</h1>" in page.text
    assert "<script>" not in page.text
    in_english = await things.get("/reports/x?lang=en", headers=as_browser)
    assert '<html lang="en">' in in_english.text
    assert "<h1>This page does not exist</h1>" in in_english.text
    assert_problem(await things.get("/reports/<script>"), 404)
    assert_problem(await things.get("/v1/no-such-collection", headers=as_browser), 404)


async def test_pages_forbid_scripts_frames_and_referers_and_the_api_docs_keep_theirs(
    things: httpx.AsyncClient,
) -> None:
    """A personal link carries its token in the path: no Referer hands it to another site;
    no page runs a script, loads from elsewhere or shows inside another site's frame."""
    page = await things.get("/reports/x", headers={"Accept": "text/html"})
    api = await things.get("/v1/things", headers=READER)
    docs = await things.get("/docs")
    for answer in (page, api, docs):
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "content-security-policy" not in api.headers
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers


async def test_a_crash_is_a_500_page_with_the_same_headers(tmp_path: Path) -> None:
    """The 500 is answered by Starlette's outermost middleware, outside the one that adds
    the headers to everything else: it adds them itself."""
    app = await things_app(sqlite_url(tmp_path))

    async def crash() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/crash", crash)
    async with serving_over_http(app) as client:
        page = await client.get("/crash", headers={"Accept": "text/html"})
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_a_form_too_big_for_a_page_is_refused_as_a_page(bounded: httpx.AsyncClient) -> None:
    """Refused before any route reads it (the request guard), but still shown to a person."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"answer=" + b"x" * LIMIT
    page = await bounded.post("/survey/t", content=body, headers={**form, "Accept": "text/html"})
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert "<h1>Det sendte var for stort</h1>" in page.text
    assert '<p lang="en">' in page.text  # the service's own reason, marked as English
    assert_problem(await bounded.post("/survey/t", content=body, headers=form), 413)


async def test_head_answers_what_get_would_without_the_body(things: httpx.AsyncClient) -> None:
    thing = await create_thing_via(things)
    url = f"/v1/things/{thing['id']}"

    got = await things.get(url, headers=WRITER)
    head = await things.head(url, headers=WRITER)

    assert (head.status_code, head.content) == (200, b"")
    for name in ("content-type", "content-length"):
        assert head.headers[name] == got.headers[name]
    missing = await things.head("/v1/no-such-collection", headers=WRITER)
    assert (missing.status_code, missing.content) == (404, b"")
    unauthorized = await things.head(url)  # the same token check as GET
    assert (unauthorized.status_code, unauthorized.content) == (401, b"")
    only_post = await things.head(f"{url}/parts", headers=WRITER)
    assert (only_post.status_code, only_post.headers["allow"]) == (405, "POST, OPTIONS")


async def test_options_lists_the_methods_of_a_path(things: httpx.AsyncClient) -> None:
    thing = await create_thing_via(things)
    for path, allowed in [
        ("/v1/things", "GET, HEAD, POST, OPTIONS"),
        (f"/v1/things/{thing['id']}", "GET, HEAD, OPTIONS"),
        (f"/v1/things/{thing['id']}/votes", "POST, OPTIONS"),
    ]:
        response = await things.options(path)
        assert (response.status_code, response.headers["allow"]) == (204, allowed), path
    assert_problem(await things.options("/v1/no-such-collection"), 404)


# --- bounded request bodies -------------------------------------------------------------------

LIMIT = 2048


def padded_thing(size: int) -> bytes:
    """A valid thing padded with JSON whitespace to exactly `size` bytes: only its size can
    make the service refuse it."""
    core = b'{"name": "Velfaerdens innovationsdag", "size": 300'
    return core + b" " * (size - len(core) - 1) + b"}"


@pytest.fixture
async def bounded(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = await things_app(sqlite_url(tmp_path, "things"), max_body_bytes=LIMIT)
    async with serving(app) as client:
        yield client


async def test_a_body_within_the_limit_is_accepted(bounded: httpx.AsyncClient) -> None:
    response = await bounded.post(
        "/v1/things",
        content=padded_thing(LIMIT),
        headers={**WRITER, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


async def test_a_body_over_the_limit_with_content_length_is_a_413_problem(
    bounded: httpx.AsyncClient,
) -> None:
    payload = padded_thing(LIMIT + 1)
    response = await bounded.post(
        "/v1/things",
        content=payload,
        headers={**WRITER, "Content-Type": "application/json", "X-Correlation-ID": "c-413"},
    )

    assert response.request.headers["content-length"] == str(len(payload))
    assert_problem(response, 413)
    assert response.headers.get("x-correlation-id") == "c-413"
    assert await thing_total(bounded) == 0


async def test_a_chunked_body_over_the_limit_is_a_413_problem(
    bounded: httpx.AsyncClient,
) -> None:
    """No Content-Length to trust: the service must count what it reads."""
    response = await bounded.post(
        "/v1/things",
        content=chunks(padded_thing(4 * LIMIT)),
        headers={**WRITER, "Content-Type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_problem(response, 413)
    assert await thing_total(bounded) == 0


async def test_a_chunked_body_within_the_limit_is_accepted(bounded: httpx.AsyncClient) -> None:
    response = await bounded.post(
        "/v1/things",
        content=chunks(padded_thing(LIMIT)),
        headers={**WRITER, "Content-Type": "application/json"},
    )
    assert response.status_code == 201, response.text


async def test_a_content_length_that_understates_the_body_does_not_get_past_the_limit(
    bounded: httpx.AsyncClient,
) -> None:
    """A client that announces 100 bytes and streams 8 KiB is still cut off at the limit."""
    response = await bounded.post(
        "/v1/things",
        content=chunks(padded_thing(4 * LIMIT)),
        headers={**WRITER, "Content-Type": "application/json", "Content-Length": "100"},
    )

    assert_problem(response, 413)
    assert await thing_total(bounded) == 0


# --- files: the file limit is for the routes that take files --------------------------------

FILE_LIMIT = 16 * LIMIT


class CountedBody:
    """A chunked body that counts how much of it the service read."""

    def __init__(self, payload: bytes, size: int = 512) -> None:
        self.payload, self.size, self.read = payload, size, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.payload), self.size):
            chunk = self.payload[start : start + self.size]
            self.read += len(chunk)
            yield chunk


def csv_of(size: int) -> bytes:
    """A CSV file of exactly `size` bytes."""
    header = b"sku;count\n"
    row = b"VF-2015;300\n"
    rows = row * ((size - len(header)) // len(row))
    return header + rows + b"x" * (size - len(header) - len(rows))


@pytest.fixture
async def bounded_files(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = await things_app(
        sqlite_url(tmp_path, "things"), max_body_bytes=LIMIT, max_file_bytes=FILE_LIMIT
    )
    async with serving(app) as client:
        yield client


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_json_route_holds_a_body_declared_as_a_file_to_the_body_limit(
    bounded_files: httpx.AsyncClient, declared: bool
) -> None:
    """The Content-Type is the client's to choose: declaring text/csv to a route that takes
    JSON must not buy a body the file limit (read in full, then refused: memory for nothing)."""
    payload = CountedBody(csv_of(FILE_LIMIT // 2))
    headers = {**WRITER, "Content-Type": "text/csv", "X-Correlation-ID": "c-csv-413"}
    if declared:
        headers["Content-Length"] = str(len(payload.payload))

    response = await bounded_files.post("/v1/things", content=payload, headers=headers)

    assert_problem(response, 413)
    assert response.headers.get("x-correlation-id") == "c-csv-413"
    assert payload.read <= (0 if declared else LIMIT + payload.size), payload.read
    assert await thing_total(bounded_files) == 0


async def test_a_route_that_takes_a_file_takes_its_type_up_to_the_file_limit_and_no_more(
    bounded_files: httpx.AsyncClient,
) -> None:
    """The file route gets the file limit for the media type it declares (text/csv), with or
    without Content-Length; a file of another type is held to the body limit there too."""
    thing = await create_thing_via(bounded_files)
    url = f"/v1/things/{thing['id']}/inventory"
    as_csv = {**WRITER, "Content-Type": "text/csv"}

    for content in (csv_of(FILE_LIMIT), chunks(csv_of(FILE_LIMIT))):
        taken = await bounded_files.post(url, content=content, headers=as_csv)
        assert taken.status_code == 202, taken.text
        assert taken.json()["bytes"] == FILE_LIMIT
    for content in (csv_of(FILE_LIMIT + 1), chunks(csv_of(FILE_LIMIT + 1))):
        assert_problem(await bounded_files.post(url, content=content, headers=as_csv), 413)
    as_email = {**WRITER, "Content-Type": "message/rfc822"}
    other_type = await bounded_files.post(url, content=csv_of(FILE_LIMIT // 2), headers=as_email)
    assert_problem(other_type, 413)  # refused before it is read (a 415 would read it first)
    email = CountedBody(csv_of(FILE_LIMIT // 2))
    streamed = await bounded_files.post(url, content=email, headers=as_email)
    assert_problem(streamed, 415)  # no length announced: read (bounded) until the type is refused
    assert email.read <= LIMIT + email.size, email.read
    assert len((await thing_state(bounded_files, thing["id"]))["inventories"]) == 2


# --- authentication and roles -----------------------------------------------------------------

ROUTES = [
    ("GET", "/v1/things", None),
    ("GET", "/v1/things/{thing_id}", None),
    ("POST", "/v1/things", THING),
    ("POST", "/v1/things/{thing_id}/parts", {"name": "Workshop"}),
]


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_a_v1_route_needs_a_valid_bearer_token(
    things: httpx.AsyncClient, credentials: dict[str, str]
) -> None:
    """Each kind of bad credentials, on reads and writes; that every route of a service is
    guarded is tested with the service (planning: test_api_behaviour.py)."""
    thing = await create_thing_via(things)
    before = await thing_state(things, thing["id"])

    for method, template, body in ROUTES:
        response = await things.request(
            method, template.format(thing_id=thing["id"]), json=body, headers=credentials
        )
        assert_unauthorized(response)

    assert await thing_state(things, thing["id"]) == before
    assert await thing_total(things) == 1


async def test_health_readiness_metrics_and_openapi_need_no_token(
    things: httpx.AsyncClient,
) -> None:
    assert (await things.get("/healthz")).status_code == 200
    assert (await things.get("/readyz")).status_code == 503  # its broker is unreachable
    assert (await things.get("/metrics")).status_code == 200
    assert (await things.get("/openapi.json")).status_code == 200


async def test_metrics_with_a_token_set_answer_only_its_bearer(tmp_path: Path) -> None:
    """Business counts on /metrics move with each registration and send: beside their own
    requests, anyone could read from them what their requests did."""
    token = "scrape-token-that-is-long-enough-for-prometheus"
    app = await things_app(sqlite_url(tmp_path), metrics_token=token)
    async with serving(app) as client:
        anonymous = await client.get("/metrics")
        with_a_user_token = await client.get("/metrics", headers=READER)
        scraper = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert_problem(anonymous, 401)
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert_problem(with_a_user_token, 401)
    assert scraper.status_code == 200 and "budskab_http_requests_total" in scraper.text


async def test_credentials_are_checked_before_the_body_is_validated(
    things: httpx.AsyncClient,
) -> None:
    """A caller without access learns nothing about the schema."""
    bad_body = {"name": 2015}

    assert_unauthorized(await things.post("/v1/things", json=bad_body))
    assert_problem(await things.post("/v1/things", json=bad_body, headers=READER), 403)


@pytest.mark.parametrize(
    "claims", [{}, {"roles": None}, {"roles": []}], ids=["none", "null", "empty"]
)
async def test_a_token_without_roles_may_not_write(tmp_path: Path, claims: dict) -> None:
    token = jwt.encode(
        {"sub": "tester", "exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256"
    )
    async with serving_over_http(await things_app(sqlite_url(tmp_path, "things"))) as client:
        assert_problem(await client.post("/v1/things", json=THING, headers=bearer(token)), 403)
        assert await thing_total(client) == 0


@pytest.mark.parametrize(
    "claims",
    [
        {"roles": [["planner"]]},
        {"roles": [{"name": "planner"}]},
        {"roles": 42},
    ],
    ids=["nested list", "list of objects", "number"],
)
async def test_a_signed_token_with_malformed_roles_is_refused_not_a_crash(
    tmp_path: Path, claims: dict
) -> None:
    token = jwt.encode(
        {"sub": "tester", "exp": int(time.time()) + 600, **claims}, SECRET, algorithm="HS256"
    )
    async with serving_over_http(await things_app(sqlite_url(tmp_path, "things"))) as client:
        response = await client.post("/v1/things", json=THING, headers=bearer(token))

        assert_unauthorized(response)
        assert await thing_total(client) == 0


# --- idempotent writes ------------------------------------------------------------------------


async def test_a_retried_create_with_the_same_idempotency_key_creates_one_thing(
    things_db: httpx.AsyncClient,
) -> None:
    headers = {**WRITER, "Idempotency-Key": str(uuid.uuid4())}

    first = await things_db.post("/v1/things", json=THING, headers=headers)
    retry = await things_db.post("/v1/things", json=THING, headers=headers)

    assert first.status_code == 201, first.text
    assert retry.status_code == 201, retry.text  # the first answer, again
    assert retry.json()["id"] == first.json()["id"]
    assert await thing_total(things_db) == 1


async def test_a_retried_addition_with_the_same_idempotency_key_adds_one_part(
    things_db: httpx.AsyncClient,
) -> None:
    thing = await create_thing_via(things_db)
    headers = {**WRITER, "Idempotency-Key": str(uuid.uuid4())}
    url = f"/v1/things/{thing['id']}/parts"
    body = {"name": "Workshop"}

    first = await things_db.post(url, json=body, headers=headers)
    retry = await things_db.post(url, json=body, headers=headers)

    assert first.status_code == 201, first.text
    assert retry.json()["id"] == first.json()["id"], retry.text
    shown = await thing_state(things_db, thing["id"])
    assert len(shown["parts"]) == 1


async def test_an_idempotency_key_reused_for_a_different_thing_is_refused(
    things: httpx.AsyncClient,
) -> None:
    headers = {**WRITER, "Idempotency-Key": str(uuid.uuid4())}
    first = await things.post("/v1/things", json=THING, headers=headers)
    assert first.status_code == 201, first.text

    other = {**THING, "name": "Folkemødet 2016"}
    response = await things.post("/v1/things", json=other, headers=headers)

    assert_problem(response, 422)
    assert await thing_total(things) == 1


async def test_an_idempotency_key_reused_with_another_query_string_is_refused(
    things_db: httpx.AsyncClient,
) -> None:
    """The same file under the same key, for another shelf, is another request: not an
    answer about the first shelf (which would leave the second never counted)."""
    thing = await create_thing_via(things_db)
    url = f"/v1/things/{thing['id']}/inventory"
    headers = {**WRITER, "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4())}
    stock = csv_of(200)

    first = await things_db.post(url, params={"shelf": "A"}, content=stock, headers=headers)
    other = await things_db.post(url, params={"shelf": "B"}, content=stock, headers=headers)
    retry = await things_db.post(url, params={"shelf": "A"}, content=stock, headers=headers)

    assert first.status_code == 202, first.text
    assert "reused" in assert_problem(other, 422)["title"].lower()
    assert "idempotent-replayed" not in other.headers
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    shown = await thing_state(things_db, thing["id"])
    assert [i["shelf"] for i in shown["inventories"]] == ["A"]


async def test_an_anonymous_request_is_never_answered_with_another_callers_response(
    things_db: httpx.AsyncClient,
) -> None:
    """Callers without a token cannot be told apart: two of them choosing the same key (and
    body) must each get their own answer, never the other's secret link. Keys hold for callers
    with a token, on a public route too."""
    thing = await create_thing_via(things_db)
    url = f"/v1/things/{thing['id']}/votes"
    ballot = {"choice": "yes"}

    first = await things_db.post(url, json=ballot, headers={"Idempotency-Key": "1"})
    second = await things_db.post(url, json=ballot, headers={"Idempotency-Key": "1"})
    bad_token = {"Authorization": "Bearer not-a-token", "Idempotency-Key": "1"}
    third = await things_db.post(url, json=ballot, headers=bad_token)

    answers = [first, second, third]
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert not any(a.headers.get("idempotent-replayed") for a in answers)
    assert len({a.json()["link_token"] for a in answers}) == 3

    signed = {**WRITER, "Idempotency-Key": "1"}
    mine = await things_db.post(url, json=ballot, headers=signed)
    again = await things_db.post(url, json=ballot, headers=signed)
    assert mine.status_code == 201, mine.text
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["link_token"] == mine.json()["link_token"]
    assert len((await thing_state(things_db, thing["id"]))["votes"]) == 4


# --- correlation id ---------------------------------------------------------------------------


async def test_a_correlation_id_is_echoed_on_success_and_on_errors(
    things: httpx.AsyncClient,
) -> None:
    thing = await create_thing_via(things)
    for method, path, headers in [
        ("GET", f"/v1/things/{thing['id']}", WRITER),  # 200
        ("GET", f"/v1/things/{uuid.uuid4()}", WRITER),  # 404
        ("POST", "/v1/things", READER),  # 403
        ("GET", "/v1/things", {}),  # 401
        ("GET", "/healthz", {}),
    ]:
        correlation_id = f"aarhus-{uuid.uuid4()}"
        response = await things.request(
            method, path, headers={**headers, "X-Correlation-ID": correlation_id}
        )
        assert response.headers.get("x-correlation-id") == correlation_id, (method, path)


async def test_a_correlation_id_is_generated_when_none_is_sent(
    things: httpx.AsyncClient,
) -> None:
    first = await things.get("/v1/things", headers=WRITER)
    second = await things.get("/v1/things", headers=WRITER)

    generated = [r.headers.get("x-correlation-id") for r in (first, second)]
    assert all(generated), generated
    assert generated[0] != generated[1]


# --- connections ------------------------------------------------------------------------------


async def test_an_idle_connection_stays_open_as_long_as_the_service_says(tmp_path: Path) -> None:
    """A client or proxy that reuses a connection the service is closing gets a reset (a
    proxy answers 502): the service keeps idle connections `HTTP_KEEP_ALIVE_SECONDS`, longer
    than nginx's 60 s by default. uvicorn's own 5 s raced the registration benchmark's client,
    whose keep-alive is 5 s too (a few ReadErrors a run)."""
    assert ServiceSettings.model_fields["http_keep_alive_seconds"].default > 60
    app = await things_app(sqlite_url(tmp_path), http_keep_alive_seconds=2)
    async with listening(app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()

        async def ask() -> bytes:
            writer.write(request)
            return await asyncio.wait_for(reader.readuntil(b'{"status":"ok"}'), 5)

        assert (await ask()).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.3)  # idle, within the keep-alive: the same connection answers
        assert (await ask()).startswith(b"HTTP/1.1 200")
        idle_since = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the service closes it...
        assert 1.5 <= time.monotonic() - idle_since < 4.5  # ...after its 2 s (uvicorn's: 5 s)
        writer.close()


# --- health, readiness, metrics, the OpenAPI document -----------------------------------------


async def test_healthz_says_the_process_is_alive(things: httpx.AsyncClient) -> None:
    response = await things.get("/healthz")
    assert response.status_code == 200


async def test_readyz_is_503_and_names_the_broker_while_it_is_unreachable(
    things: httpx.AsyncClient,
) -> None:
    response = await things.get("/readyz")

    assert response.status_code == 503, response.text
    checks = response.json()["checks"]
    assert checks["broker"] != "ok"
    assert checks["database"] == "ok"


async def test_metrics_count_requests_by_route_template_not_by_raw_path(
    things: httpx.AsyncClient,
) -> None:
    thing = await create_thing_via(things)
    missing = str(uuid.uuid4())
    assert (await things.get(f"/v1/things/{thing['id']}", headers=READER)).status_code == 200
    assert (await things.get(f"/v1/things/{missing}", headers=READER)).status_code == 404
    await things.get(f"/v1/no-such-collection/{missing}", headers=READER)

    response = await things.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = prometheus_samples(response.text, "budskab_http_requests_total")
    assert samples, response.text[:2000]
    assert thing["id"] not in response.text
    assert missing not in response.text
    assert prometheus_samples(response.text, "budskab_http_request_duration_seconds_bucket")
    assert_route_counted(samples, "GET", "/v1/things/{thing_id}", "200")
    assert_route_counted(samples, "GET", "/v1/things/{thing_id}", "404")


async def test_openapi_documents_the_error_responses_users_will_meet(
    things: httpx.AsyncClient,
) -> None:
    """Problem details are part of the contract: the document should say which ones a route
    returns (401 on every /v1 route, 403 on writes, 404 on a resource named by its id)."""
    paths = (await things.get("/openapi.json")).json()["paths"]

    gaps = {}
    for path, operations in paths.items():
        if not path.startswith("/v1"):
            continue
        for method, operation in operations.items():
            expected = {"401"}
            if method == "post":
                expected.add("403")
            if "{thing_id}" in path:
                expected.add("404")
            if missing := expected - set(operation["responses"]):
                gaps[f"{method.upper()} {path}"] = sorted(missing)
    documented = {path for path in paths if path.startswith("/v1")}
    assert documented == {
        "/v1/things",
        "/v1/things/{thing_id}",
        "/v1/things/{thing_id}/parts",
        "/v1/things/{thing_id}/inventory",
        "/v1/things/{thing_id}/votes",
    }
    assert not gaps, f"responses missing from the OpenAPI document: {gaps}"
