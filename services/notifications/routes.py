"""The notifications service's HTTP API: contacts and deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from services.notifications import schemas
from services.notifications.tables import AudienceMember, Contact, Delivery
from shared.auth import Principal, Role, require_roles
from shared.db import new_id
from shared.errors import Conflict, NotFound
from shared.http import UnitOfWorkDep
from shared.pagination import Limit, Offset, Page, fetch_page
from shared.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["notifications"])

Communicator = Annotated[Principal, require_roles(Role.COMMUNICATOR)]
DeliveryReader = Annotated[Principal, require_roles(Role.COMMUNICATOR, Role.ANALYST)]
MAY_SEE_CONTACTS = {Role.COMMUNICATOR.value, Role.ADMIN.value}


async def _public(uow: UnitOfWork, contact: Contact) -> schemas.ContactPublic:
    audience_ids = await uow.session.scalars(
        select(AudienceMember.audience_id).where(AudienceMember.contact_id == contact.id)
    )
    return schemas.ContactPublic(
        id=contact.id,
        email=contact.email,
        name=contact.name,
        email_consent=contact.email_consent,
        audience_ids=sorted(audience_ids),
        created_at=contact.created_at,
    )


@router.post("/contacts", status_code=status.HTTP_201_CREATED, response_model=schemas.ContactPublic)
async def create_contact(
    body: schemas.ContactCreate, uow: UnitOfWorkDep, _: Communicator, response: Response
) -> schemas.ContactPublic:
    async with uow:
        email = body.email.lower()
        if await uow.session.scalar(select(Contact.id).where(Contact.email == email)):
            raise Conflict(f"a contact with e-mail {email} exists already")
        contact = Contact(
            id=new_id(),
            email=email,
            name=body.name,
            email_consent=body.email_consent,
            created_at=uow.now(),
        )
        uow.session.add(contact)
        await uow.session.flush()  # the contact row first: memberships refer to it
        uow.session.add_all(
            AudienceMember(audience_id=a, contact_id=contact.id) for a in set(body.audience_ids)
        )
        await uow.commit()
        public = await _public(uow, contact)
    response.headers["Location"] = f"/v1/contacts/{contact.id}"
    return public


@router.get("/contacts/{contact_id}", response_model=schemas.ContactPublic)
async def get_contact(
    contact_id: str, uow: UnitOfWorkDep, _: Communicator
) -> schemas.ContactPublic:
    """A contact's personal data: for communicators (and admins) only."""
    async with uow:
        contact = await uow.session.get(Contact, contact_id)
        if contact is None:
            raise NotFound(f"no contact with id {contact_id}")
        return await _public(uow, contact)


@router.get("/deliveries", response_model=Page[schemas.DeliveryPublic])
async def list_deliveries(
    uow: UnitOfWorkDep,
    reader: DeliveryReader,
    activity_id: str | None = None,
    plan_id: str | None = None,
    event_id: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.DeliveryPublic]:
    """Deliveries, for communicators and analysts. Why an attempt failed is in the mail
    server's own words, which may name the address: only communicators (and admins) see it."""
    query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
    if activity_id is not None:
        query = query.where(Delivery.activity_id == activity_id)
    if plan_id is not None:
        query = query.where(Delivery.plan_id == plan_id)
    if event_id is not None:
        query = query.where(Delivery.event_id == event_id)
    async with uow:
        rows, total = await fetch_page(uow.session, query, limit=limit, offset=offset)
    items = [schemas.DeliveryPublic.model_validate(d) for d in rows]
    if not reader.roles & MAY_SEE_CONTACTS:
        for item in items:
            item.last_error = None
    return Page[schemas.DeliveryPublic](items=items, total=total, limit=limit, offset=offset)
