"""`Idempotency-Key` on POST: a retried create returns the first answer instead of
creating twice (after the IETF httpapi Idempotency-Key draft).

The key is scoped to the caller (token subject), so it holds only for callers with a valid
bearer token: a request without one (a public route's, such as a registration for an event)
is neither recorded nor answered from a record, whatever key it sends. Callers without a
token cannot be told apart (an address is shared and spoofable): kept under one "anonymous"
scope, one caller's answer — a personal link in it, say — would be replayed to anyone who
sent the same body and key. Such a retry runs again; the route's own rules make that safe
(the same e-mail registered twice is a 409).

The first request with a key is recorded as in progress, then with its response; a retry
with the same request — path, query string and body — gets that response again
(`Idempotent-Replayed: true`); the same key with a different request (another query string
too) is 422; a retry while the first is still running is 409. 5xx answers are not kept, so a
retry runs again. A record left in progress by a crash is given up after ABANDONED_AFTER;
keys live for KEEP.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import jwt
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.db import UtcDateTime
from shared.headers import header
from shared.problems import problem

HEADER = "Idempotency-Key"
ABANDONED_AFTER = timedelta(minutes=2)
KEEP = timedelta(hours=24)


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(200), primary_key=True),
        Column("key", String(200), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("created_at", UtcDateTime, nullable=False, index=True),  # pruned by age
        Column("status_code", Integer, nullable=True),  # null while in progress
        Column("response_headers", Text, nullable=True),
        Column("response_body", Text, nullable=True),
    )


class IdempotencyKeys:
    """ASGI middleware; needs `app.state.runtime` (sessions, metadata) and the token verifier."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        key = header(scope, HEADER)
        if not key:
            return await self.app(scope, receive, send)
        if not 1 <= len(key) <= 200:
            return await problem(400, "Invalid Idempotency-Key", "it must be 1 to 200 characters")(
                scope, receive, send
            )
        app_state = scope["app"].state
        caller = _caller(scope, app_state.token_verifier)
        if caller is None:  # no one to keep the answer for: run it as if no key were sent
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        table: Table = app_state.runtime.metadata.tables["idempotency_keys"]
        sessions = app_state.runtime.sessions
        record = {"scope": caller, "key": key, "fingerprint": _fingerprint(scope, body)}
        earlier = await _claim(sessions, table, record, app_state.runtime.clock())
        if earlier is not None:
            return await _answer_from(earlier, record)(scope, receive, send)

        status, headers, chunks = 500, [], []

        async def capture(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, _replay(body), capture)
        finally:
            await _store(sessions, table, record, status, headers, b"".join(chunks))


def _caller(scope: Scope, verifier) -> str | None:  # type: ignore[no-untyped-def]
    """The token's subject; None without a valid token (the route answers as it would)."""
    authorization = header(scope, "Authorization")
    try:
        return verifier.verify(authorization.removeprefix("Bearer ").strip()).subject
    except (jwt.PyJWTError, ValueError):
        return None


def _fingerprint(scope: Scope, body: bytes) -> str:
    """What makes two requests the same one: path, query string and body. The first line is
    JSON, so no path or query can pass for another split between them."""
    target = json.dumps([scope["path"], scope["query_string"].decode("latin-1")])
    return hashlib.sha256(target.encode() + b"\n" + body).hexdigest()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _claim(sessions, table: Table, record: dict, now: datetime) -> dict | None:  # type: ignore[no-untyped-def]
    """Record the request as in progress; if the key is taken, the earlier record."""
    where = (table.c.scope == record["scope"]) & (table.c.key == record["key"])
    try:
        async with sessions.begin() as session:
            earlier = (await session.execute(select(table).where(where))).mappings().first()
            if earlier is not None:
                age = now - earlier["created_at"]
                abandoned = earlier["status_code"] is None and age > ABANDONED_AFTER
                if age <= KEEP and not abandoned:
                    return dict(earlier)
                await session.execute(delete(table).where(where))
            await session.execute(insert(table).values(**record, created_at=now))
    except IntegrityError:  # a concurrent twin claimed the key first
        return {**record, "status_code": None}
    return None


def _answer_from(earlier: dict, record: dict) -> Response:
    if earlier["fingerprint"] != record["fingerprint"]:
        return problem(422, "Idempotency-Key reused", "this key was used for a different request")
    if earlier["status_code"] is None:
        return problem(
            409, "Request in progress", "a request with this Idempotency-Key is still running"
        )
    headers = dict(json.loads(earlier["response_headers"]))
    headers["Idempotent-Replayed"] = "true"
    return Response(earlier["response_body"], status_code=earlier["status_code"], headers=headers)


async def _store(
    sessions, table: Table, record: dict, status: int, headers: list, body: bytes
) -> None:  # type: ignore[no-untyped-def]
    where = (table.c.scope == record["scope"]) & (table.c.key == record["key"])
    async with sessions.begin() as session:
        if status >= 500:  # not an answer worth repeating: let a retry run again
            await session.execute(delete(table).where(where))
            return
        kept = [
            (k.decode(), v.decode())
            for k, v in headers
            if k.lower() not in (b"content-length", b"x-correlation-id")
        ]
        await session.execute(
            update(table)
            .where(where)
            .values(
                status_code=status, response_headers=json.dumps(kept), response_body=body.decode()
            )
        )
