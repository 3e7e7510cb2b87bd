"""What the plans API does: each function is one command, in one unit of work. The rules
are the plan aggregate's (`model`); a command finds what it needs, calls the aggregate and
commits."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning import domain
from services.planning.plans import schemas
from services.planning.plans.model import Edit, Plan
from services.planning.plans.parts import Activity, Channel, Goal, Message, Schedule
from services.planning.strategies.model import StrategyNode
from services.planning.tables import Audience, Partner
from services.planning.unit_of_work import PlanningUnitOfWork
from shared.auth import Principal
from shared.errors import RuleViolation
from shared.ids import new_id

Expected = frozenset[int] | None  # the versions the caller saw (If-Match); None: any


def _edit(uow: PlanningUnitOfWork, by: Principal, cmd: schemas.AgreedChange | None = None) -> Edit:
    """Who changes the plan, now; and for an approved plan, why and who agreed."""
    if cmd is None:
        return Edit(by.subject, uow.now())
    return Edit(by.subject, uow.now(), reason=cmd.reason, agreed_by=cmd.agreed_by)


def _fields(cmd: schemas.AgreedChange, *also: str) -> dict:
    """The command's fields for a new part, without the deviation's."""
    return cmd.model_dump(exclude={*schemas.DEVIATION_FIELDS, *also})


async def create_plan(uow: PlanningUnitOfWork, cmd: schemas.PlanCreate, by: Principal) -> Plan:
    async with uow:
        plan = Plan.create(cmd.model_dump(), _edit(uow, by))
        await _check_track(uow.session, cmd.track_id)
        uow.plans.add(plan)
        await uow.commit()
    return plan


async def update_plan(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.PlanUpdate,
    by: Principal,
    expected: Expected = None,
) -> Plan:
    """Change the plan's own fields (title, owner, sender, track, period)."""
    given = {k: v for k, v in _fields(cmd).items() if k in cmd.model_fields_set}
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        if "track_id" in given and given["track_id"] != plan.track_id:
            await _check_track(uow.session, given["track_id"])
        plan.update(given, _edit(uow, by, cmd))
        await uow.commit()
    return plan


async def submit_plan(
    uow: PlanningUnitOfWork, plan_id: str, by: Principal, expected: Expected
) -> Plan:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        plan.submit(_edit(uow, by))
        await uow.commit()
    return plan


async def approve_plan(
    uow: PlanningUnitOfWork,
    plan_id: str,
    approver: Principal,
    expected: Expected,
    *,
    four_eyes: bool = False,
) -> Plan:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        plan.approve(_edit(uow, approver), four_eyes=four_eyes)
        await uow.commit()
    return plan


async def close_plan(
    uow: PlanningUnitOfWork, plan_id: str, by: Principal, expected: Expected
) -> Plan:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        plan.close(_edit(uow, by))
        await uow.commit()
    return plan


async def add_goal(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.GoalCreate,
    by: Principal,
    expected: Expected = None,
) -> tuple[Goal, Plan]:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        goal = plan.add_goal(_fields(cmd), _edit(uow, by, cmd))
        await uow.commit()
    return goal, plan


async def add_audience(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.PlanAudienceAdd,
    by: Principal,
    expected: Expected = None,
) -> tuple[Audience, Plan]:
    """Link an existing audience to the plan, or create a new one and link it."""
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        if cmd.audience_id is None:
            audience = Audience(id=new_id(), created_at=uow.now(), **_fields(cmd, "audience_id"))
            uow.session.add(audience)
        else:
            found = await uow.session.get(Audience, cmd.audience_id)
            if found is None:
                raise RuleViolation(
                    f"no audience with id {cmd.audience_id}",
                    errors=[{"field": "audience_id", "message": "no such audience"}],
                )
            audience = found
        plan.add_audience(audience, _edit(uow, by, cmd))
        await uow.commit()
    return audience, plan


async def add_message(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.MessageCreate,
    by: Principal,
    expected: Expected = None,
    *,
    lix_threshold: float,
) -> tuple[Message, Plan]:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        message = plan.add_message(_fields(cmd), _edit(uow, by, cmd), lix_threshold=lix_threshold)
        await uow.commit()
    return message, plan


async def add_channel(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.ChannelCreate,
    by: Principal,
    expected: Expected = None,
) -> tuple[Channel, Plan]:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        channel = plan.add_channel(_fields(cmd), _edit(uow, by, cmd))
        await uow.commit()
    return channel, plan


async def add_activity(
    uow: PlanningUnitOfWork,
    plan_id: str,
    cmd: schemas.ActivityCreate,
    by: Principal,
    expected: Expected = None,
) -> tuple[Activity, Plan]:
    # a rule engine may search a while for a series' occurrences: not on the event loop
    schedule = await asyncio.to_thread(Schedule.expand, cmd.starts_at, cmd.recurrence, cmd.kind)
    fields = _fields(cmd, "partner_ids", "recurrence", "starts_at")
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        partners = await _partners(uow.session, cmd.partner_ids)
        activity = plan.add_activity(fields, schedule, partners, _edit(uow, by, cmd))
        await uow.commit()
    return activity, plan


async def reschedule_activity(
    uow: PlanningUnitOfWork,
    plan_id: str,
    activity_id: str,
    cmd: schemas.Reschedule,
    by: Principal,
    expected: Expected,
) -> tuple[Activity, Plan]:
    """Move an activity (a recurring one: its series)."""
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        activity = plan.activity_to_change(activity_id)
        schedule = await asyncio.to_thread(
            Schedule.expand, cmd.starts_at, activity.recurrence, activity.kind
        )
        plan.reschedule(activity_id, schedule, _edit(uow, by, cmd))
        await uow.commit()
    return activity, plan


async def cancel_activity(
    uow: PlanningUnitOfWork,
    plan_id: str,
    activity_id: str,
    cmd: schemas.AgreedChange,
    by: Principal,
    expected: Expected,
) -> tuple[Activity, Plan]:
    async with uow:
        plan = await uow.plans.get_for_change(plan_id, expected)
        activity = plan.cancel(activity_id, _edit(uow, by, cmd))
        await uow.commit()
    return activity, plan


async def create_audience(uow: PlanningUnitOfWork, cmd: schemas.AudienceCreate) -> Audience:
    async with uow:
        audience = Audience(id=new_id(), created_at=uow.now(), **cmd.model_dump())
        uow.session.add(audience)
        await uow.commit()
    return audience


async def create_partner(uow: PlanningUnitOfWork, cmd: schemas.PartnerCreate) -> Partner:
    async with uow:
        partner = Partner(id=new_id(), created_at=uow.now(), **cmd.model_dump())
        uow.session.add(partner)
        await uow.commit()
    return partner


async def _check_track(session: AsyncSession, track_id: str | None) -> None:
    if track_id is None:
        return
    node = await session.get(StrategyNode, track_id)
    if node is None or domain.NodeLevel(node.level) not in domain.LINKABLE:
        raise RuleViolation(
            f"{track_id} is not a track or sub-track of a strategy",
            errors=[{"field": "track_id", "message": "no such track or sub-track"}],
        )


async def _partners(session: AsyncSession, partner_ids: list[str]) -> list[Partner]:
    if not partner_ids:
        return []
    found = {
        p.id: p for p in await session.scalars(select(Partner).where(Partner.id.in_(partner_ids)))
    }
    for i, partner_id in enumerate(partner_ids):
        if partner_id not in found:
            raise RuleViolation(
                f"no partner with id {partner_id}",
                errors=[{"field": f"partner_ids[{i}]", "message": "no such partner"}],
            )
    if len(set(partner_ids)) != len(partner_ids):
        raise RuleViolation(
            "a partner is named twice",
            errors=[{"field": "partner_ids", "message": "name each partner once"}],
        )
    return [found[partner_id] for partner_id in partner_ids]
