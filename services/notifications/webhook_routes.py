"""The webhooks API: subscribe a system to an audience's webhook sends, list, remove."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from services.notifications import schemas, webhooks
from services.notifications.access import Communicator
from shared.http import UnitOfWorkDep, get_runtime

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.post(
    "/webhooks", status_code=status.HTTP_201_CREATED, response_model=schemas.WebhookCreated
)
async def subscribe(
    body: schemas.WebhookCreate,
    uow: UnitOfWorkDep,
    _: Communicator,
    request: Request,
    response: Response,
) -> schemas.WebhookCreated:
    """Post the audience's webhook sends to `url` from now on. The answer holds the secret
    that signs each post (Standard Webhooks): keep it, it is not shown again."""
    async with uow:
        webhook = await webhooks.subscribe(
            uow,
            audience_id=body.audience_id,
            url=body.url,
            description=body.description,
            allow_local=get_runtime(request).settings.webhook_allow_local,
        )
        await uow.commit()
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    return schemas.WebhookCreated.model_validate(webhook)


@router.get("/webhooks", response_model=list[schemas.WebhookPublic])
async def list_webhooks(
    uow: UnitOfWorkDep, _: Communicator, audience_id: str | None = None
) -> list[schemas.WebhookPublic]:
    async with uow:
        found = await webhooks.of_audience(uow, audience_id)
    return [schemas.WebhookPublic.model_validate(w) for w in found]


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_webhook(webhook_id: str, uow: UnitOfWorkDep, _: Communicator) -> None:
    """No more posts to this system; what a send still had for it fails, shown in its ledger."""
    async with uow:
        await webhooks.unsubscribe(uow, webhook_id)
        await uow.commit()
