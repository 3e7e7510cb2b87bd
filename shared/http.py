"""FastAPI app factory shared by the four services.

`/v1` routes, `/healthz`, `/readyz`, `/metrics`, RFC 9457 problem details that name the
bad field, bounded request bodies, correlation id in and out, request metrics.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import MetaData
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import TokenVerifier
from shared.errors import DomainError
from shared.logging import configure_logging, correlation, get_logger
from shared.messaging import Subscription
from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from shared.runtime import Runtime, Worker
from shared.settings import ServiceSettings
from shared.uow import UnitOfWork

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-ID"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def create_app(
    settings: ServiceSettings,
    *,
    name: str,
    title: str,
    description: str,
    metadata: MetaData,
    routers: Sequence[APIRouter],
    subscriptions: Sequence[Subscription] = (),
    workers: Sequence[Worker] = (),
) -> FastAPI:
    """A service's app: its routes under /v1 plus the runtime (database, broker, relay...)."""
    configure_logging(name, settings.log_level, settings.log_json)
    runtime = Runtime(
        settings,
        name=name,
        metadata=metadata,
        migrations_dir=Path(sys.modules[f"services.{name}"].__file__).parent / "migrations",
        subscriptions=subscriptions,
        workers=workers,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("service started", port=settings.http_port)
        yield
        await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.token_verifier = TokenVerifier(settings)
    for router in routers:
        app.include_router(router, prefix="/v1")
    _add_operational_routes(app, runtime)
    _add_problem_handlers(app)
    app.middleware("http")(_correlation_and_metrics)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app


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
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _add_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(422, "Invalid request", detail, errors=errors)

    @app.exception_handler(DomainError)
    async def on_domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        extra = {"errors": exc.errors} if exc.errors else {}
        return problem(exc.status, exc.title, exc.detail, **extra)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(exc.status_code, _reason(exc.status_code), str(exc.detail))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def on_crash(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error=repr(exc))
        return problem(500, "Internal server error", "the error was logged; retry later")


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _correlation_and_metrics(request: Request, call_next):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with correlation(request.headers.get(CORRELATION_HEADER)) as correlation_id:
        response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")  # bounded label: the route template
    HTTP_REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    HTTP_DURATION.labels(request.method, template).observe(time.perf_counter() - started)
    response.headers[CORRELATION_HEADER] = correlation_id
    return response


class BodySizeLimit:
    """Reject request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and int(declared) > self.max_bytes:
            return await self._reject(send)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._reject(send)

    async def _reject(self, send: Send) -> None:
        response = problem(
            413, "Content too large", f"request bodies are limited to {self.max_bytes} bytes"
        )
        await response({"type": "http"}, _no_receive, send)


class _BodyTooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def get_uow(request: Request) -> UnitOfWork:
    return get_runtime(request).uow()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_uow)]


def serve(app: FastAPI) -> None:
    """Run one service with uvicorn, on the host and port of its settings."""
    import uvicorn

    settings = app.state.runtime.settings
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None)
