"""The stakeholders API: who we know, who knows whom, and the dialogues held."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from services.planning.domain import GatekeeperRole
from services.planning.stakeholders import commands, queries, schemas
from services.planning.tables import Stakeholder
from shared.auth import CurrentPrincipal, Planner
from shared.http import UnitOfWorkDep
from shared.pagination import Limit, Offset, Page, page_of

router = APIRouter(prefix="/v1/stakeholders", tags=["stakeholders"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=schemas.StakeholderPublic)
async def create_stakeholder(
    body: schemas.StakeholderCreate, uow: UnitOfWorkDep, _: Planner, response: Response
) -> object:
    stakeholder = await commands.create_stakeholder(uow, body)
    response.headers["Location"] = f"/v1/stakeholders/{stakeholder.id}"
    return stakeholder


@router.get("", response_model=Page[schemas.StakeholderPublic])
async def list_stakeholders(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    gatekeeper: GatekeeperRole | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[schemas.StakeholderPublic]:
    query = select(Stakeholder).order_by(Stakeholder.name, Stakeholder.id)
    if gatekeeper is not None:
        query = query.where(Stakeholder.gatekeeper == gatekeeper)
    async with uow:
        return await page_of(
            uow.session, query, schemas.StakeholderPublic, limit=limit, offset=offset
        )


@router.get("/{stakeholder_id}", response_model=schemas.StakeholderDetail)
async def get_stakeholder(
    stakeholder_id: str, uow: UnitOfWorkDep, _: CurrentPrincipal
) -> schemas.StakeholderDetail:
    """The stakeholder with whom they know and the dialogue log."""
    async with uow:
        return await queries.stakeholder_detail(uow.session, stakeholder_id)


@router.post("/{stakeholder_id}/relations", status_code=status.HTTP_204_NO_CONTENT)
async def relate(
    stakeholder_id: str, body: schemas.RelationCreate, uow: UnitOfWorkDep, _: Planner
) -> None:
    """Record (or re-describe) that two stakeholders know each other."""
    await commands.relate_stakeholders(uow, stakeholder_id, body)


@router.post(
    "/{stakeholder_id}/dialogues",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DialoguePublic,
)
async def log_dialogue(
    stakeholder_id: str, body: schemas.DialogueCreate, uow: UnitOfWorkDep, by: Planner
) -> object:
    """Log a dialogue meeting: who took part, what came out, what follows and by when."""
    return await commands.log_dialogue(uow, stakeholder_id, body, by)
