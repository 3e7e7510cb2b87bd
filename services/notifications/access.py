"""Who may do what in the notifications API."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from shared.auth import Principal, Role, current_principal, ensure_roles, require_roles
from shared.http import get_runtime

Communicator = Annotated[Principal, require_roles(Role.COMMUNICATOR)]
# deliveries, sends and templates; a mail server's words (which may quote an address) and
# contacts are for communicators (and admins) only
DeliveryReader = Annotated[Principal, require_roles(Role.COMMUNICATOR, Role.ANALYST)]

_basic = HTTPBasic(auto_error=False)
_bearer = HTTPBearer(auto_error=False)


async def _bounce_reporter(
    request: Request,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """A mail provider's webhook, which keeps a fixed credential (in its URL:
    https://budskab:<secret>@…/v1/bounces): HTTP Basic, its password
    NOTIFICATIONS_BOUNCE_WEBHOOK_SECRET. Or a communicator, with their token. Who it was."""
    if basic is None:
        principal = await current_principal(request, bearer)
        return ensure_roles(principal, Role.COMMUNICATOR).subject
    secret = get_runtime(request).settings.bounce_webhook_secret
    given = basic.password.encode()
    if secret is None or not hmac.compare_digest(given, secret.get_secret_value().encode()):
        raise HTTPException(
            401, "not the bounce webhook's credential", {"WWW-Authenticate": "Basic"}
        )
    return "mail provider"


BounceReporter = Annotated[str, Depends(_bounce_reporter)]
