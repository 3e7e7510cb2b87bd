"""FastAPI app factory shared by the four services.

`/v1` routes, `/healthz`, `/readyz`, `/metrics`, RFC 9457 problem details that name the
bad field, bounded request bodies, correlation id in and out, request metrics.
"""

from __future__ import annotations

import gc
import hmac
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import httpx
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenVerifier
from shared.errors import DomainError, PreconditionFailed
from shared.headers import header, plain_token
from shared.idempotency import IdempotencyKeys
from shared.logging import configure_logging, correlation, get_logger
from shared.messaging import Subscription
from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.problems import PROBLEM_RESPONSES, problem
from shared.runtime import Runtime, Worker
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork
from shared.web import error_page

log = get_logger(__name__)

CORRELATION_HEADER = "X-Correlation-ID"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_LISTED_ERRORS = 20  # a 422 names at most this many problems, and says how many more


def create_app(
    settings: ServiceSettings,
    *,
    name: str,
    title: str,
    description: str,
    metadata: MetaData,
    migrations_dir: Path,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] = (),
    workers: Sequence[Worker] = (),
    unit_of_work: type[UnitOfWork] = UnitOfWork,
) -> FastAPI:
    """A service's app: its routes under /v1 plus the runtime (database, broker, relay...)."""
    configure_logging(name, settings.log_level, settings.log_json)
    runtime = Runtime(
        settings,
        name=name,
        metadata=metadata,
        migrations_dir=migrations_dir,
        subscriptions=subscriptions,
        workers=workers,
        unit_of_work=unit_of_work,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        await _build_routes(app)
        # What startup made (modules, routes, schemas: some 200,000 objects) lives as long as
        # the service: out of the collector's full passes, each of which would otherwise stop
        # every request, /healthz too, for about a tenth of a second.
        gc.freeze()
        log.info("service started", port=settings.http_port)
        yield
        await runtime.stop()
        gc.unfreeze()  # several apps in one process (the tests): let the next collect this one

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(settings)
    for router in routers:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    _add_operational_routes(app, runtime)
    _add_problem_handlers(app)
    app.add_middleware(IdempotencyKeys)
    app.add_middleware(
        RequestGuard,
        max_bytes=settings.max_body_bytes,
        max_file_bytes=settings.max_file_bytes,
        routes=[route for router in routers for route in router.routes],
    )
    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestContext)  # outermost: sees every response, 413s included
    return app


async def _build_routes(app: FastAPI) -> None:
    """FastAPI builds an included route's schemas on the first request that passes it, some
    0.25 s for a service's routes, once held by the first `/healthz` of a process (the
    operational routes come last). A path no route matches passes them all: asked once here,
    before the service serves."""
    transport = httpx.ASGITransport(app=app.router)  # the routes alone, not the middleware
    async with httpx.AsyncClient(transport=transport, base_url="http://startup") as client:
        await client.get("/no-such-route")


def _add_operational_routes(app: FastAPI, runtime: Runtime) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Database and broker are reachable")
    async def readyz() -> JSONResponse:
        checks = await runtime.check_ready()
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        wanted = runtime.settings.metrics_token
        if wanted is not None:
            given = (request.headers.get("authorization") or "").encode()
            if not hmac.compare_digest(given, f"Bearer {wanted.get_secret_value()}".encode()):
                raise HTTPException(
                    401, "the metrics need their bearer token", {"WWW-Authenticate": "Bearer"}
                )
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _add_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        broken = next((e for e in exc.errors() if e["type"] == "json_invalid"), None)
        if broken is not None:  # not JSON at all: a syntax error is 400, not 422
            where = broken["loc"][-1]
            reason = broken.get("ctx", {}).get("error", "")
            return _problem_for(
                request.scope,
                400,
                "Malformed JSON",
                f"the body is not valid JSON ({reason} at position {where})",
            )
        found = exc.errors()
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in found[:MAX_LISTED_ERRORS]
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        if len(found) > MAX_LISTED_ERRORS:  # the answer stays small, whatever was sent
            detail += f"; and {len(found) - MAX_LISTED_ERRORS} more"
        return _problem_for(request.scope, 422, "Invalid request", detail, errors=errors)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> Response:
        extra = {"errors": exc.errors} if exc.errors else {}
        return _problem_for(request.scope, exc.status, exc.title, exc.detail, **extra)

    @app.exception_handler(IntegrityError)
    async def on_integrity_error(request: Request, exc: IntegrityError) -> Response:
        # a concurrent twin won a unique key between our check and our write
        log.warning("write refused by a database constraint", error=str(exc.orig)[:300])
        return _problem_for(
            request.scope,
            409,
            "Conflict",
            "the change conflicts with data written meanwhile; reload and retry",
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        response = _problem_for(
            request.scope, exc.status_code, _reason(exc.status_code), str(exc.detail)
        )
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # the router names one route's methods; the path has more
            allowed = ", ".join(_allowed_methods(app, request.scope))
            if request.method == "OPTIONS":  # what may I do here? (RFC 9110 §9.3.7)
                return Response(status_code=204, headers={"Allow": allowed})
            response.headers["Allow"] = allowed
        return response

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", error=repr(exc))
        response = _problem_for(
            request.scope, 500, "Internal server error", "the error was logged; retry later"
        )
        # answered outside RequestContext (by Starlette's outermost middleware): its headers
        response.raw_headers[:] = _with_security_headers(request.scope, response.raw_headers)
        return response


def _problem_for(scope: Scope, status: int, title: str, detail: str, **extra: Any) -> Response:
    """The problem, as problem+json for API clients, or as a plain page for a person whose
    browser asked for one outside /v1 (a report link that expired, a form the browser sent
    broken or too big): a page route's own errors are its own pages; these reach no page."""
    if scope["path"].startswith("/v1/") or "text/html" not in header(scope, "accept"):
        return problem(status, title, detail, **extra)
    return error_page(Request(scope), status, detail)


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """Every method some route of this path answers (RFC 9110: Allow lists them all); HEAD
    wherever GET is (`HeadAsGet`), OPTIONS everywhere."""
    allowed = [
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    ]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return [*allowed, "OPTIONS"]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# on every answer: no type sniffing, no Referer (a personal link carries its token in the
# path, and a page's link to elsewhere would hand it over), never inside another site's frame
# (a cancel or unsubscribe button under a decoy)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
# the pages are ours alone: no script, nothing loaded from elsewhere, forms post to us (the
# interactive API docs load Swagger UI's script, and keep their own)
PAGE_POLICY = (
    b"content-security-policy",
    b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    b"frame-ancestors 'none'; base-uri 'none'",
)
API_DOCS = {"/docs", "/docs/oauth2-redirect", "/redoc"}


def _with_security_headers(scope: Scope, headers: list[tuple[bytes, bytes]]) -> list:
    headers = [*headers, *SECURITY_HEADERS]
    is_page = any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers)
    if is_page and scope["path"] not in API_DOCS:
        headers.append(PAGE_POLICY)
    return headers


class RequestContext:
    """Correlation id in and out (and in every log line), the security headers, and the
    request metrics.

    A plain ASGI middleware: Starlette's BaseHTTPMiddleware would wrap body-reading errors
    (such as the 413 below) in exception groups.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500
        # one a client sent is kept only if it is safe to log and to send back; else a new one
        given = plain_token(header(scope, CORRELATION_HEADER))
        with correlation(given) as correlation_id:

            async def send_with_correlation_id(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                    header = (CORRELATION_HEADER.encode(), correlation_id.encode())
                    headers = [*message.get("headers", []), header]
                    message["headers"] = _with_security_headers(scope, headers)
                await send(message)

            try:
                await self.app(scope, receive, send_with_correlation_id)
            finally:
                # bounded labels: a route template and a known method, whatever was requested
                template = getattr(scope.get("route"), "path", "unmatched")
                method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
                HTTP_REQUESTS.labels(method, template, str(status)).inc()
                HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)


class HeadAsGet:
    """HEAD answers what GET would, without the body (RFC 9110 §9.3.2): link checkers and
    uptime monitors ask so. FastAPI's routes answer only the methods they are declared for,
    and declaring HEAD on each would double every operation in the OpenAPI document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_without_body)


# what /v1 takes besides JSON: files (a CSV of contacts, a bounce report e-mail)
FILE_TYPES = (b"text/csv", b"message/rfc822")


class RequestGuard:
    """Refuse, as problems, requests no route should try to read: a NUL in the path or query
    (400), a body under /v1 that is neither JSON nor a file it takes (415), a body over
    `max_bytes` (413) — whether or not Content-Length is sent, and whatever the Content-Type.

    Only a route that takes a file gets `max_file_bytes` instead, for the file's media type:
    the one it declares as its request body (see `require_media_type`). The client's
    Content-Type alone buys nothing: a JSON route sent "text/csv" keeps the body limit.
    The guard runs before routing: it is given the service's `routes` and finds the one a
    request is for as the router will (the first whose path and method match)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        max_file_bytes: int,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes
        self.routes = [(route, _declared_file_types(route)) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_file_bytes if self._takes_file(scope) else self.max_bytes
        refusal = self._refusal(scope, limit)
        if refusal is not None:
            return await refusal(scope, receive, send)
        received, started = 0, False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _too_large(limit)  # raised inside a route: answered as a problem there
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except HTTPException as exc:
            # raised where no route answers it (the idempotency layer reads bodies first)
            if started or exc.status_code != 413:
                raise
            await _problem_for(scope, 413, "Content too large", exc.detail)(scope, receive, send)

    def _takes_file(self, scope: Scope) -> bool:
        """Whether the body is a file of a type the route it is for takes."""
        content_type = _content_type(scope)
        if content_type not in FILE_TYPES:  # JSON, a form, no body: the common case, at once
            return False
        for route, file_types in self.routes:
            if route.matches(scope)[0] is Match.FULL:
                return content_type in file_types
        return False

    def _refusal(self, scope: Scope, limit: int) -> Response | None:
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            return _problem_for(
                scope, 400, "Bad request", "the path or query contains a NUL character"
            )
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return _problem_for(scope, 413, "Content too large", _too_large(limit).detail)
        has_body = (declared.isdigit() and int(declared) > 0) or b"transfer-encoding" in headers
        content_type = _content_type(scope)
        api = scope["path"].startswith("/v1/")  # the pages for people take HTML forms
        if api and has_body and content_type and not _is_json(content_type):
            if content_type not in FILE_TYPES:
                return problem(415, "Unsupported media type", "send the body as application/json")
        return None


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"request bodies are limited to {limit} bytes")


def _content_type(scope: Scope) -> bytes:
    return dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()


def _declared_file_types(route: BaseRoute) -> frozenset[bytes]:
    """The file types a route declares it takes: its OpenAPI request body's media types
    (`openapi_extra={"requestBody": {"content": {"text/csv": ...}}}`) that are FILE_TYPES."""
    extra = getattr(route, "openapi_extra", None) or {}
    content = (extra.get("requestBody") or {}).get("content") or {}
    return frozenset(media_type.lower().encode() for media_type in content) & set(FILE_TYPES)


def require_media_type(request: Request, media_type: str) -> None:
    """A route that takes a file (not JSON) refuses any other body with 415.

    Such a route declares the file as its request body, which documents it and is what gives
    it `max_file_bytes` (every other route has `max_body_bytes`, whatever is sent):
    `openapi_extra={"requestBody": {"content": {media_type: {...}}}}` (and `media_type` must
    be one of FILE_TYPES)."""
    if _content_type(request.scope) != media_type.encode():
        raise HTTPException(415, f"post the body as {media_type}")


def _is_json(content_type: bytes) -> bool:
    return content_type == b"application/json" or content_type.endswith(b"+json")


def get_runtime(request: Request) -> Runtime[Any]:
    return request.app.state.runtime


async def get_settings(request: Request) -> ServiceSettings:
    """The service's settings; a service types them as its own class:
    `Annotated[PlanningSettings, Depends(get_settings)]`."""
    return get_runtime(request).settings


async def get_now(request: Request) -> datetime:
    """The time by the service's clock (which tests move)."""
    return get_runtime(request).clock()


async def get_uow(request: Request) -> UnitOfWork:
    return get_runtime(request).uow()


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow)]
Now = Annotated[datetime, Depends(get_now)]


def if_match_versions(if_match: str | None) -> frozenset[int] | None:
    """The versions an If-Match header accepts (RFC 9110: "*", or a list of ETags; ours are
    strong, a version number in quotes); None for any. Anything else is no ETag of ours:
    `"1_0"` is not version 10, nor `1`, `"+1"` or `"1 "` version 1."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    strong = [tag for tag in tags if not tag.startswith("W/")]  # weak: never a strong match
    if not all(_ETAG.fullmatch(tag) for tag in strong):
        raise PreconditionFailed(f"If-Match {if_match[:100]!r} is not an ETag of this API")
    if not strong:
        raise PreconditionFailed("If-Match needs the strong ETag the resource was served with")
    return frozenset(int(tag.strip('"')) for tag in strong)


_ETAG = re.compile(r'"(0|[1-9][0-9]{0,9})"')  # no sign, no leading zero, no space


# a version in a path or query: 1 up to what the database's integer holds
VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]


def server_config(app: FastAPI, **overrides: Any) -> uvicorn.Config:
    """uvicorn's settings for a service: its host and port, our logging, the client's
    address taken from X-Forwarded-For only when a trusted proxy sent it (the registration
    rate limit counts per client: behind an untrusted proxy everyone is one client), and
    idle connections kept longer than clients and proxies keep theirs."""
    settings = app.state.runtime.settings
    config: dict[str, Any] = {
        "host": settings.http_host,
        "port": settings.http_port,
        "log_config": None,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.http_trusted_proxies,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
    }
    return uvicorn.Config(app, **(config | overrides))


def serve(app: FastAPI) -> None:
    """Run one service with uvicorn, as `server_config` says."""
    uvicorn.Server(server_config(app)).run()
