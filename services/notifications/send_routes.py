"""The sends API: a message to an audience, its ledger of deliveries, resending to the
failed, cancelling; and the bounce intake."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response, status

from services.notifications import bounces, queries, schemas, sends
from services.notifications.access import BounceReporter, Communicator, DeliveryReader
from services.notifications.domain import DeliveryStatus, SendStatus
from shared.auth import Role
from shared.errors import Conflict, RuleViolation
from shared.http import UnitOfWorkDep, require_media_type
from shared.pagination import Limit, Offset, Page

MAY_SEE_CONTACTS = {Role.COMMUNICATOR.value, Role.ADMIN.value}

router = APIRouter(prefix="/v1", tags=["sends"])


@router.get("/deliveries", response_model=Page[schemas.DeliveryPublic])
async def list_deliveries(
    uow: UnitOfWorkDep,
    reader: DeliveryReader,
    activity_id: str | None = None,
    plan_id: str | None = None,
    event_id: str | None = None,
    send_id: str | None = None,
    status: DeliveryStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.DeliveryPublic]:
    """Deliveries, for communicators and analysts. Whom each is for (`to`), and why an attempt
    failed in the mail server's own words, which may name the address: only communicators
    (and admins) see them."""
    which = queries.DeliveryFilter(activity_id, plan_id, event_id, send_id, status)
    async with uow:
        return await queries.deliveries_page(
            uow.session,
            which,
            personal=bool(reader.roles & MAY_SEE_CONTACTS),
            limit=limit,
            offset=offset,
        )


@router.post("/sends", status_code=status.HTTP_201_CREATED, response_model=schemas.SendPublic)
async def create_send(
    body: schemas.SendCreate, uow: UnitOfWorkDep, _: Communicator, response: Response
) -> schemas.SendPublic:
    """Send a message to an audience or a segment, now or at `scheduled_for`; watch its
    progress at the send's address."""
    async with uow:
        send = await sends.create(
            uow,
            audience_id=body.audience_id,
            segment_id=body.segment_id,
            channel=body.channel,
            subject=body.subject,
            body=body.body,
            template=body.template,
            at=body.scheduled_for,
        )
        await uow.commit()
        public = await queries.send_public(uow, send)
    response.headers["Location"] = f"/v1/sends/{send.id}"
    return public


@router.get("/sends", response_model=Page[schemas.SendPublic])
async def list_sends(
    uow: UnitOfWorkDep,
    _: DeliveryReader,
    activity_id: str | None = None,
    plan_id: str | None = None,
    status: SendStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.SendPublic]:
    async with uow:
        return await queries.sends_page(
            uow,
            activity_id=activity_id,
            plan_id=plan_id,
            status=status,
            limit=limit,
            offset=offset,
        )


@router.get("/sends/{send_id}", response_model=schemas.SendPublic)
async def get_send(send_id: str, uow: UnitOfWorkDep, _: DeliveryReader) -> schemas.SendPublic:
    """A send with its deliveries counted by status, and how far it has come."""
    async with uow:
        return await queries.get_send(uow, send_id)


@router.post("/sends/{send_id}/resend-failed", response_model=schemas.Requeued)
async def resend_failed(send_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.Requeued:
    """Send the send's failed deliveries again — only those; who got it already is left be."""
    async with uow:
        send = await sends.get_locked(uow, send_id)
        requeued = await sends.resend_failed(uow, send)
        await uow.commit()
    return schemas.Requeued(requeued=requeued)


@router.post("/sends/{send_id}/cancel", response_model=schemas.SendPublic)
async def cancel_send(send_id: str, uow: UnitOfWorkDep, _: Communicator) -> schemas.SendPublic:
    """Stop a send: nothing pending goes out any more. A completed send stays as it was."""
    async with uow:
        send = await sends.get_locked(uow, send_id)
        if send.status == SendStatus.COMPLETED:
            raise Conflict("the send is completed: there is nothing left to cancel")
        await sends.cancel(uow, send)
        await uow.commit()
        return await queries.send_public(uow, send)


@router.post("/bounces", response_model=schemas.BounceResult)
async def report_bounce(
    body: schemas.ProviderReport, uow: UnitOfWorkDep, _: BounceReporter
) -> schemas.BounceResult:
    """A mail provider's bounce or complaint webhook (Postmark's JSON shape): a hard bounce or
    a complaint suppresses the address in every later send. The provider signs in with HTTP
    Basic (`NOTIFICATIONS_BOUNCE_WEBHOOK_SECRET` the password), a communicator with a token."""
    report = bounces.from_provider(body.record_type, body.type, body.email, body.message_id)
    async with uow:
        result = await bounces.take(uow, [report])
        await uow.commit()
    return schemas.BounceResult(**result)


@router.post(
    "/bounces/dsn",
    response_model=schemas.BounceResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def report_dsn(
    request: Request, uow: UnitOfWorkDep, _: BounceReporter
) -> schemas.BounceResult:
    """A delivery status notification e-mail (RFC 3464) as the mail server returned it, posted
    as `message/rfc822`: each recipient it reports failed for good (5.x.x) is suppressed."""
    require_media_type(request, "message/rfc822")
    reports = await asyncio.to_thread(bounces.from_dsn, await request.body())
    if not reports:
        raise RuleViolation("this e-mail is not a delivery status notification (RFC 3464)")
    async with uow:
        result = await bounces.take(uow, reports)
        await uow.commit()
    return schemas.BounceResult(**result)
