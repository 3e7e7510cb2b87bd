"""The events service's HTTP API."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from services.events import schemas
from services.events.tables import Event
from shared.auth import CurrentPrincipal
from shared.errors import NotFound
from shared.http import UnitOfWorkDep
from shared.pagination import Limit, Offset, Page, fetch_page

router = APIRouter(prefix="/v1/events", tags=["events"])


@router.get("", response_model=Page[schemas.EventPublic])
async def list_events(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    plan_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.EventPublic]:
    query = select(Event)
    if plan_id is not None:
        query = query.where(Event.plan_id == plan_id)
    async with uow:
        events, total = await fetch_page(
            uow.session, query.order_by(Event.starts_at, Event.id), limit=limit, offset=offset
        )
    items = [schemas.EventPublic.model_validate(e) for e in events]
    return Page[schemas.EventPublic](items=items, total=total, limit=limit, offset=offset)


@router.get("/{event_id}", response_model=schemas.EventPublic)
async def get_event(event_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal) -> Event:
    async with uow:
        event = await uow.session.get(Event, event_id)
    if event is None:
        raise NotFound(f"no event with id {event_id}")
    return event
