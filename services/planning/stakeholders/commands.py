"""What the stakeholders API does: stakeholders, who knows whom, and dialogue meetings."""

from __future__ import annotations

from services.planning import domain
from services.planning.stakeholders import schemas
from services.planning.stakeholders.queries import get_stakeholder
from services.planning.tables import Dialogue, Stakeholder, StakeholderRelation
from shared.auth import Principal
from shared.errors import RuleViolation
from shared.ids import new_id
from shared.uow import UnitOfWork


async def create_stakeholder(uow: UnitOfWork, cmd: schemas.StakeholderCreate) -> Stakeholder:
    async with uow:
        stakeholder = Stakeholder(id=new_id(), created_at=uow.now(), **cmd.model_dump())
        uow.session.add(stakeholder)
        await uow.commit()
    return stakeholder


async def relate_stakeholders(
    uow: UnitOfWork, stakeholder_id: str, cmd: schemas.RelationCreate
) -> None:
    """Record that two stakeholders know each other (once per pair, whichever side asks)."""
    domain.check_relation(stakeholder_id, cmd.other_id)
    async with uow:
        await get_stakeholder(uow.session, stakeholder_id)
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
        await get_stakeholder(uow.session, stakeholder_id)
        dialogue = Dialogue(
            id=new_id(),
            stakeholder_id=stakeholder_id,
            logged_by=by.subject,
            **cmd.model_dump(),
        )
        uow.session.add(dialogue)
        await uow.commit()
    return dialogue
