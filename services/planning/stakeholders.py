"""Stakeholders, who knows whom, and the dialogue log (DOMAIN.md, case D)."""

from __future__ import annotations

import uuid

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import domain, schemas
from services.planning.tables import Dialogue, Stakeholder, StakeholderRelation
from shared.auth import Principal
from shared.errors import NotFound, RuleViolation
from shared.uow import UnitOfWork


async def create_stakeholder(uow: UnitOfWork, cmd: schemas.StakeholderCreate) -> Stakeholder:
    async with uow:
        stakeholder = Stakeholder(id=str(uuid.uuid4()), created_at=uow.now(), **cmd.model_dump())
        uow.session.add(stakeholder)
        await uow.commit()
    return stakeholder


async def _stakeholder(session: AsyncSession, stakeholder_id: str) -> Stakeholder:
    stakeholder = await session.get(Stakeholder, stakeholder_id)
    if stakeholder is None:
        raise NotFound(f"no stakeholder with id {stakeholder_id}")
    return stakeholder


async def relate_stakeholders(
    uow: UnitOfWork, stakeholder_id: str, cmd: schemas.RelationCreate
) -> None:
    """Record that two stakeholders know each other (once per pair, whichever side asks)."""
    domain.check_relation(stakeholder_id, cmd.other_id)
    async with uow:
        await _stakeholder(uow.session, stakeholder_id)
        if await uow.session.get(Stakeholder, cmd.other_id) is None:
            raise RuleViolation(
                "no such stakeholder",
                errors=[{"field": "other_id", "message": "no such stakeholder"}],
            )
        first, second = sorted((stakeholder_id, cmd.other_id))
        relation = await uow.session.get(StakeholderRelation, (first, second))
        if relation is None:
            uow.session.add(
                StakeholderRelation(
                    stakeholder_id=first, other_id=second, description=cmd.description
                )
            )
        else:
            relation.description = cmd.description
        await uow.commit()


async def log_dialogue(
    uow: UnitOfWork, stakeholder_id: str, cmd: schemas.DialogueCreate, by: Principal
) -> Dialogue:
    async with uow:
        await _stakeholder(uow.session, stakeholder_id)
        dialogue = Dialogue(
            id=str(uuid.uuid4()),
            stakeholder_id=stakeholder_id,
            logged_by=by.subject,
            **cmd.model_dump(),
        )
        uow.session.add(dialogue)
        await uow.commit()
    return dialogue


async def stakeholder_detail(
    session: AsyncSession, stakeholder_id: str
) -> schemas.StakeholderDetail:
    stakeholder = await _stakeholder(session, stakeholder_id)
    pairs = await session.execute(
        select(StakeholderRelation, Stakeholder)
        .join(
            Stakeholder,
            Stakeholder.id
            == case(
                (
                    StakeholderRelation.stakeholder_id == stakeholder_id,
                    StakeholderRelation.other_id,
                ),
                else_=StakeholderRelation.stakeholder_id,
            ),
        )
        .where(
            (StakeholderRelation.stakeholder_id == stakeholder_id)
            | (StakeholderRelation.other_id == stakeholder_id)
        )
        .order_by(Stakeholder.name)
    )
    dialogues = await session.scalars(
        select(Dialogue)
        .where(Dialogue.stakeholder_id == stakeholder_id)
        .order_by(Dialogue.held_on, Dialogue.id)
    )
    return schemas.StakeholderDetail.model_validate(
        {
            **schemas.StakeholderPublic.model_validate(stakeholder).model_dump(),
            "relations": [
                schemas.RelationPublic(
                    stakeholder_id=other.id, name=other.name, description=r.description
                )
                for r, other in pairs.all()
            ],
            "dialogues": [schemas.DialoguePublic.model_validate(d) for d in dialogues],
        }
    )
