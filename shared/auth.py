"""Bearer-token (JWT) authentication with Budskab's roles.

Tokens are verified against a shared HS256 secret, a PEM public key, or the identity
provider's JWKS, as an OIDC provider would issue them. Roles come from the `roles` claim
(or Keycloak-style `realm_access.roles`). Admin may do everything.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.settings import ServiceSettings


class Role(StrEnum):
    PLANNER = "planner"
    EVENT_MANAGER = "event_manager"
    COMMUNICATOR = "communicator"
    ANALYST = "analyst"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    subject: str
    name: str
    roles: frozenset[str]


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.max_lifetime = settings.jwt_max_lifetime_seconds
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        self._key: str | None
        if settings.jwt_public_key:
            self._key, self._algorithms = settings.jwt_public_key, ["RS256", "ES256"]
        elif settings.jwt_secret is not None:
            self._key, self._algorithms = settings.jwt_secret.get_secret_value(), ["HS256"]
        else:
            self._key, self._algorithms = None, ["RS256", "ES256"]

    def verify(self, token: str) -> Principal:
        key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
        if key is None:
            raise jwt.InvalidTokenError("no key is configured to verify tokens")
        claims = jwt.decode(
            token,
            key,
            algorithms=self._algorithms,
            issuer=self.issuer,
            audience=self.audience,
            options={"require": ["exp", "sub"], "verify_aud": self.audience is not None},
        )
        if claims["exp"] - time.time() > self.max_lifetime:  # a stolen one would work for years
            raise jwt.InvalidTokenError(
                f"the token is valid for longer than the {self.max_lifetime} s this service allows"
            )
        roles = claims.get("roles")
        if roles is None and isinstance(claims.get("realm_access"), dict):
            roles = claims["realm_access"].get("roles")
        roles = [] if roles is None else roles
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise jwt.InvalidTokenError("the roles claim must be a list of strings")
        if not isinstance(claims["sub"], str):
            raise jwt.InvalidTokenError("the sub claim must be a string")
        name = claims.get("name") or claims.get("preferred_username") or claims["sub"]
        return Principal(subject=claims["sub"], name=str(name), roles=frozenset(roles))


def issue_token(
    secret: str,
    *,
    subject: str,
    roles: list[str],
    name: str | None = None,
    ttl_seconds: int = 12 * 3600,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """An HS256 token as the dev mode prints it (and as tests use it)."""
    now = int(time.time())
    claims = {"sub": subject, "name": name or subject, "roles": roles, "iat": now}
    claims["exp"] = now + ttl_seconds
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


_bearer = HTTPBearer(auto_error=False)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(401, "a bearer token is required", {"WWW-Authenticate": "Bearer"})
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return verifier.verify(credentials.credentials)
    except jwt.PyJWTError as exc:
        raise HTTPException(
            401, f"invalid token: {exc}", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def ensure_roles(principal: Principal, *roles: Role) -> Principal:
    """The principal, if they hold one of `roles` (admin always passes); else a 403."""
    allowed = {r.value for r in roles} | {Role.ADMIN.value}
    if not principal.roles & allowed:
        raise HTTPException(403, f"needs one of the roles: {', '.join(sorted(allowed))}")
    return principal


def require_roles(*roles: Role):  # type: ignore[no-untyped-def]
    """Dependency: the caller must hold one of `roles` (admin always passes)."""

    async def check(principal: CurrentPrincipal) -> Principal:
        return ensure_roles(principal, *roles)

    return Depends(check)


Planner = Annotated[Principal, require_roles(Role.PLANNER)]  # who may change plans


DEV_ISSUER, DEV_AUDIENCE = "budskab-dev", "budskab"  # what `make run` checks in tokens


def dev_tokens(secret: str) -> dict[str, str]:
    """One ready-made token per role, for the dev mode's start banner."""
    return {
        role.value: issue_token(
            secret,
            subject=f"dev-{role.value}",
            roles=[role.value],
            issuer=DEV_ISSUER,
            audience=DEV_AUDIENCE,
        )
        for role in Role
    }


if __name__ == "__main__":
    import os

    from shared.settings import DEV_JWT_SECRET

    for role, token in dev_tokens(os.environ.get("BUDSKAB_JWT_SECRET", DEV_JWT_SECRET)).items():
        print(f"{role:>14}: {token}")
