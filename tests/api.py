"""Assertions and helpers the HTTP API tests share: problems, credentials, metrics."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from scripts.stack import Postgres
from tests.helpers import SECRET, serving

UNREACHABLE_BROKER = "127.0.0.1:1"  # nothing listens there: for pure HTTP tests


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with the expected status, in the body as well as on the wire."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    content_type = response.headers.get("content-type", "")
    assert content_type.startswith("application/problem+json"), content_type
    problem = response.json()
    assert problem["status"] == status, problem
    assert problem.get("title"), problem
    return problem


def names_field(field: str, name: str) -> bool:
    """`title`, `body.title` name `title`; `body.event.capacity` names `event.capacity`."""
    return field == name or field.endswith(f".{name}")


def assert_invalid(response: httpx.Response, field: str) -> dict[str, Any]:
    """A 422 problem whose `errors[].field` names `field`."""
    problem = assert_problem(response, 422)
    fields = [error["field"] for error in problem.get("errors", [])]
    assert any(names_field(f, field) for f in fields), f"no error names {field!r}: {problem}"
    return problem


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401)
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.lower().startswith("bearer"), f"WWW-Authenticate: {challenge!r}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expired_token(*roles: str) -> str:
    now = int(time.time())
    claims = {"sub": "tester", "roles": list(roles), "iat": now - 7200, "exp": now - 3600}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def foreign_token(*roles: str) -> str:
    """Well-formed and unexpired, but signed with a key the service does not trust."""
    claims = {"sub": "intruder", "roles": list(roles), "exp": int(time.time()) + 3600}
    return jwt.encode(claims, "another-secret-that-is-long-enough-for-hs256", algorithm="HS256")


def unsigned_token(*roles: str) -> str:
    """`alg: none`: a token anyone can write."""
    claims = {"sub": "intruder", "roles": list(roles), "exp": int(time.time()) + 3600}
    return jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]  # no key: alg none


BAD_CREDENTIALS: dict[str, dict[str, str]] = {
    "no token": {},
    "not a JWT": bearer("not-a-jwt"),
    "foreign signature": bearer(foreign_token("admin")),
    "expired": bearer(expired_token("admin")),
    "unsigned (alg none)": bearer(unsigned_token("admin")),
    "basic scheme": {"Authorization": "Basic cGxhbm5lcjpwbGFubmVy"},
}


def sqlite_url(directory: Path, name: str = "planning") -> str:
    return f"sqlite+aiosqlite:///{directory}/{name}.db"


def backend_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh database for a module-scoped fixture parametrized over "sqlite"/"postgresql"
    (the `database_url` fixture is per test)."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path_factory.mktemp("db"), "service")
    server: Postgres = request.getfixturevalue("postgres")
    return server.create_database(f"api_{uuid.uuid4().hex[:12]}")


def prometheus_samples(exposition: str, metric: str) -> list[str]:
    return [line for line in exposition.splitlines() if line.startswith(f"{metric}{{")]


def assert_route_counted(samples: list[str], method: str, route: str, status: str) -> None:
    """The route label is the OpenAPI path template, as the client addressed it."""
    labels = [dict(re.findall(r'(\w+)="([^"]*)"', sample)) for sample in samples]
    wanted = {"method": method, "route": route, "status": status}
    routes = sorted({label.get("route", "") for label in labels if label.get("method") == method})
    assert any(wanted.items() <= label.items() for label in labels), (
        f"no sample labelled {wanted}; {method} routes seen: {routes}"
    )


def serving_over_http(app):  # type: ignore[no-untyped-def]
    """Like `tests.helpers.serving`, but an unhandled error reaches the test as the 500 response
    a real client gets instead of as an exception: for tests whose point is "never a 500"."""
    return serving(app, raise_app_exceptions=False)


async def chunks(payload: bytes, size: int = 512) -> AsyncIterator[bytes]:
    for start in range(0, len(payload), size):
        yield payload[start : start + size]
