"""What the events routes and pages share per app: the signer of personal links, the
registration rate limit, and who may manage events."""

from __future__ import annotations

import math
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from services.events.policy import Policy
from services.events.registrar import Registrar
from shared.auth import Principal, Role, require_roles


class RateLimit:
    """At most `rule` (e.g. "30/minute") per client, in this process's memory: per replica,
    which bounds what one client can do to the database without a shared store."""

    def __init__(self, rule: str) -> None:
        self.item = parse(rule)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if not self.limiter.hit(self.item, client):
            reset_at, _remaining = self.limiter.get_window_stats(self.item, client)
            wait = max(1, math.ceil(reset_at - time.time()))
            raise HTTPException(
                429,
                f"too many registrations from this address; try again in {wait} seconds",
                headers={"Retry-After": str(wait)},
            )


class EventsAccess:
    def __init__(self, policy: Policy, rate_limit: str, registrar: Registrar) -> None:
        self.policy = policy
        self.links = policy.links
        self.rate_limit = RateLimit(rate_limit)  # of registrations, per client
        self.registrar = registrar


async def get_access(request: Request) -> EventsAccess:
    return request.app.state.events_access


Access = Annotated[EventsAccess, Depends(get_access)]


async def limit_registrations(request: Request, access: Access) -> None:
    """Dependency: count this registration attempt against its client's limit."""
    access.rate_limit.check(request)


RegistrationLimit = Depends(limit_registrations)
EventManager = Annotated[Principal, require_roles(Role.EVENT_MANAGER)]
