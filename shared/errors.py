"""Errors the domain raises; the HTTP layer turns each into an RFC 9457 problem."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, *, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    """The caller may do this in general, but not here (e.g. approve their own plan)."""

    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class RuleViolation(DomainError):
    """The request is well-formed but breaks a business rule; `errors` lists each breach."""

    status = 422
    title = "Business rule violated"


class PreconditionFailed(DomainError):
    status = 412
    title = "Precondition failed"
