"""Read models of stakeholders: who knows whom, and the dialogues held."""

from __future__ import annotations

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning.stakeholders import schemas
from services.planning.tables import Dialogue, Stakeholder, StakeholderRelation
from shared.errors import NotFound


async def get_stakeholder(session: AsyncSession, stakeholder_id: str) -> Stakeholder:
    stakeholder = await session.get(Stakeholder, stakeholder_id)
    if stakeholder is None:
        raise NotFound(f"no stakeholder with id {stakeholder_id}")
    return stakeholder


async def stakeholder_detail(
    session: AsyncSession, stakeholder_id: str
) -> schemas.StakeholderDetail:
    stakeholder = await get_stakeholder(session, stakeholder_id)
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
