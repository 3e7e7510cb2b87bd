"""The lists API: what an audience is sent on (its lawful basis) and whom it reaches, and
segments of contacts chosen by their attributes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications import fanout, lists, schemas, segments
from services.notifications.access import Communicator, DeliveryReader
from services.notifications.domain import LawfulBasis
from services.notifications.tables import AudienceList, AudienceMember, Contact, Segment
from shared.contracts.vocabulary import ChannelKind
from shared.errors import NotFound
from shared.http import UnitOfWorkDep

router = APIRouter(prefix="/v1", tags=["lists"])


@router.get("/audiences/{audience_id}", response_model=schemas.AudiencePublic)
async def get_audience(
    audience_id: str, uow: UnitOfWorkDep, _: DeliveryReader
) -> schemas.AudiencePublic:
    """An audience's lawful basis, members, and how many of them e-mail and SMS reach now
    (less those whose address is suppressed)."""
    async with uow:
        return await _audience(uow.session, audience_id)


@router.put("/audiences/{audience_id}", response_model=schemas.AudiencePublic)
async def set_lawful_basis(
    audience_id: str, body: schemas.AudienceBasis, uow: UnitOfWorkDep, who: Communicator
) -> schemas.AudiencePublic:
    """Send to this audience on its contacts' consent (the default) or on the authority's
    public task. Sends fanned out from now on use it; one under way keeps its own. Each
    setting stays in the audience's `basis_history`, with who set it and when."""
    async with uow:
        set_by = f"api: {who.subject}"[:80]
        await lists.set_basis(uow, audience_id, body.lawful_basis, body.basis_note, set_by)
        await uow.commit()
        return await _audience(uow.session, audience_id)


async def _audience(session: AsyncSession, audience_id: str) -> schemas.AudiencePublic:
    entry = await session.get(AudienceList, audience_id)
    members = await session.scalar(
        select(func.count()).where(AudienceMember.audience_id == audience_id)
    )
    if entry is None and not members:
        raise NotFound(f"no contact is in the audience {audience_id}, and it has no basis set")
    basis = LawfulBasis(entry.lawful_basis) if entry else LawfulBasis.CONSENT
    reachable = {
        channel.value: await fanout.reach(session, audience_id, channel, basis)
        for channel in (ChannelKind.EMAIL, ChannelKind.SMS)
    }
    return schemas.AudiencePublic(
        audience_id=audience_id,
        lawful_basis=basis,
        basis_note=entry.basis_note if entry else "",
        updated_at=entry.updated_at if entry else None,
        basis_history=[
            schemas.BasisRecordPublic.model_validate(record)
            for record in await lists.basis_history(session, audience_id)
        ],
        members=members or 0,
        reachable=reachable,
    )


@router.post("/segments", status_code=status.HTTP_201_CREATED, response_model=schemas.SegmentPublic)
async def create_segment(
    body: schemas.SegmentCreate, uow: UnitOfWorkDep, _: Communicator, response: Response
) -> schemas.SegmentPublic:
    async with uow:
        segment = await segments.create(
            uow, name=body.name, audience_id=body.audience_id, rules=body.rules
        )
        await uow.commit()
        response.headers["Location"] = f"/v1/segments/{segment.id}"
        return await _segment(uow.session, segment)


@router.get("/segments", response_model=list[schemas.SegmentPublic])
async def list_segments(uow: UnitOfWorkDep, _: DeliveryReader) -> list[schemas.SegmentPublic]:
    async with uow:
        found = await uow.session.scalars(select(Segment).order_by(Segment.created_at))
        return [await _segment(uow.session, segment) for segment in found.all()]


@router.get("/segments/{segment_id}", response_model=schemas.SegmentPublic)
async def get_segment(
    segment_id: str, uow: UnitOfWorkDep, _: DeliveryReader
) -> schemas.SegmentPublic:
    async with uow:
        return await _segment(uow.session, await segments.get(uow, segment_id))


@router.delete("/segments/{segment_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_segment(segment_id: str, uow: UnitOfWorkDep, _: Communicator) -> None:
    """Remove a segment no waiting send goes to (409 names one that does)."""
    async with uow:
        await segments.delete(uow, segment_id)
        await uow.commit()


async def _segment(session: AsyncSession, segment: Segment) -> schemas.SegmentPublic:
    held = await session.scalar(
        select(func.count()).select_from(Contact).where(segments.members(segment))
    )
    return schemas.SegmentPublic.model_validate(
        {
            "id": segment.id,
            "name": segment.name,
            "audience_id": segment.audience_id,
            "rules": segment.rules,
            "contacts": held or 0,
            "created_at": segment.created_at,
        }
    )
