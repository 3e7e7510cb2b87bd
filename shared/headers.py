"""Request headers as the ASGI middlewares read them: decoded in one place, the same way."""

from __future__ import annotations

import re

from starlette.types import Scope

_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9._:\-]{1,200}")


def header(scope: Scope, name: str) -> str:
    """A request header's value, '' when it is absent. Header bytes are read as Latin-1 (as
    Starlette does), so any bytes decode; whether the value makes sense is for its reader."""
    wanted = name.lower().encode()
    return next((v for k, v in scope["headers"] if k == wanted), b"").decode("latin-1")


def plain_token(value: str) -> str | None:
    """`value` if it is a short plain token (letters, digits, . _ : -), safe to log and to send
    back in a header; None otherwise."""
    return value if _PLAIN_TOKEN.fullmatch(value) else None
