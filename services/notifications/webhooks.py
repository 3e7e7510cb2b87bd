"""Webhooks: systems subscribed to an audience's messages (an intranet, a website, a case
system). A send to the audience on the `webhook` channel is posted to each, as JSON, signed
the Standard Webhooks way: `webhook-id` (the delivery's id, the same on every attempt, so
the receiver can drop a copy), `webhook-timestamp` and `webhook-signature` (HMAC-SHA256 of
"id.timestamp.body" with the subscription's secret).
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import secrets
from datetime import UTC, datetime

import httpx
from sqlalchemy import delete, select
from standardwebhooks.webhooks import Webhook as Signer

from services.notifications.tables import Webhook
from shared.db import changed_rows
from shared.errors import NotFound, RuleViolation
from shared.ids import new_id
from shared.uow import UnitOfWork

MESSAGE_TYPE = "send.message"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def check_url(url: str, *, allow_local: bool) -> None:
    """An endpoint we may post to: https to a public host — not this machine nor the
    network it stands in, which a webhook must not become a way into (unless `allow_local`,
    which also allows http: a receiver on this machine) —, no credentials in the URL (they
    would sit in the database and logs)."""
    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise RuleViolation("a webhook's url may not hold spaces or control characters")
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise RuleViolation(f"a webhook's url cannot be read ({exc})") from None
    if parts.port is not None and not 0 < parts.port < 65536:
        raise RuleViolation(f"a webhook's url has no such port: {parts.port}")
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes or not parts.host:
        raise RuleViolation(f"a webhook's url must be an {' or '.join(schemes)} address")
    if parts.userinfo:
        raise RuleViolation("a webhook's url may not hold a user name or password")
    if not allow_local and _local_name(parts.host):
        raise RuleViolation("a webhook's url must name a public host, not a local address")


def _local_name(host: str) -> bool:
    """A name or address that is this machine or a private network's (as written: what it
    resolves to is checked again before each post)."""
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_global
    except ValueError:
        return False  # a name


async def public_addresses(host: str, port: int) -> bool:
    """Whether every address the host resolves to now is a public one."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port)
    return bool(found) and all(ipaddress.ip_address(a[4][0]).is_global for a in found)


async def subscribe(
    uow: UnitOfWork, *, audience_id: str, url: str, description: str, allow_local: bool
) -> Webhook:
    check_url(url, allow_local=allow_local)
    webhook = Webhook(
        id=new_id(),
        audience_id=audience_id,
        url=url,
        secret=new_secret(),
        description=description,
        created_at=uow.now(),
    )
    uow.session.add(webhook)
    return webhook


async def unsubscribe(uow: UnitOfWork, webhook_id: str) -> None:
    """The system gets no more posts; what a send still had for it fails as it comes up
    ("the webhook was removed"), shown in that send's ledger."""
    if not await changed_rows(uow.session, delete(Webhook).where(Webhook.id == webhook_id)):
        raise NotFound(f"no webhook with id {webhook_id}")


async def of_audience(uow: UnitOfWork, audience_id: str | None) -> list[Webhook]:
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    if audience_id is not None:
        query = query.where(Webhook.audience_id == audience_id)
    return list(await uow.session.scalars(query))


def body(*, delivery_id: str, at: datetime, send: dict[str, str | None]) -> bytes:
    """The JSON a subscribing system is posted: the same bytes on every attempt."""
    return json.dumps(
        {
            "id": delivery_id,
            "type": MESSAGE_TYPE,
            "timestamp": at.isoformat().replace("+00:00", "Z"),
            "data": send,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def signed_headers(secret: str, delivery_id: str, now: datetime, payload: bytes) -> dict[str, str]:
    """Standard Webhooks' three headers for one attempt."""
    now = now.astimezone(UTC)  # the library takes the time as UTC, whatever its zone says
    signature = Signer(secret).sign(delivery_id, now, payload.decode())
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
