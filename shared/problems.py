"""RFC 9457 problem details: every error response of every service."""

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


class Problem(BaseModel):
    """RFC 9457 problem details; `errors` names each bad field where there are several."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]] | None = None


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_JSON: {}}}


# The errors any /v1 route may answer with, for the OpenAPI documents.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Malformed request (e.g. the body is not JSON)"),
    401: _documented("No valid bearer token"),
    403: _documented("The token lacks the role this needs"),
    404: _documented("No such resource"),
    409: _documented("Conflicts with the resource's state or an existing one"),
    412: _documented("If-Match names another version than the current one"),
    413: _documented("The body is larger than the service accepts"),
    415: _documented("The body is not JSON"),
    422: _documented("Invalid fields, or a business rule the request breaks"),
}
