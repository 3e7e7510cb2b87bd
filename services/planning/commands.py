"""What the planning API does: each function is one command, in one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning import domain, schemas
from services.planning.tables import (
    Activity,
    Audience,
    Channel,
    Deviation,
    Goal,
    Message,
    Plan,
    PlanAudience,
)
from shared.auth import Principal
from shared.contracts import EventData
from shared.contracts.planning import (
    ActivityApproved,
    ActivityCancelled,
    ActivityRescheduled,
    AudienceRef,
    DeviationRecorded,
    EventDetails,
    GoalRef,
    MessageRef,
    PlanApproved,
    PlanClosed,
    PlanSubmitted,
)
from shared.errors import Conflict, NotFound, PreconditionFailed, RuleViolation
from shared.pagination import fetch_page
from shared.uow import UnitOfWork


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


async def get_plan(session: AsyncSession, plan_id: str, *, for_update: bool = False) -> Plan:
    """The plan with its parts; `for_update` locks its row until the transaction ends, so
    concurrent writers to one plan take turns (and each gets its own version)."""
    plan = await session.get(
        Plan,
        plan_id,
        with_for_update=for_update,
        populate_existing=for_update,
        options=[
            selectinload(Plan.goals),
            selectinload(Plan.audiences),
            selectinload(Plan.messages),
            selectinload(Plan.channels),
            selectinload(Plan.activities),
            selectinload(Plan.deviations),
        ],
    )
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    return plan


async def list_plans(
    session: AsyncSession, *, status: domain.PlanStatus | None, limit: int, offset: int
) -> tuple[list[Plan], int]:
    query = select(Plan)
    if status is not None:
        query = query.where(Plan.status == status)
    return await fetch_page(
        session, query.order_by(Plan.created_at, Plan.id), limit=limit, offset=offset
    )


async def create_plan(uow: UnitOfWork, cmd: schemas.PlanCreate) -> Plan:
    async with uow:
        now = _now()
        plan = Plan(
            id=_new_id(),
            status=domain.PlanStatus.DRAFT,
            version=1,
            created_at=now,
            updated_at=now,
            **cmd.model_dump(),
        )
        uow.session.add(plan)
        await uow.commit()
    return plan


async def _plan_to_change(uow: UnitOfWork, plan_id: str, expected_version: int | None) -> Plan:
    """The plan, locked until the transaction ends and at the version the caller saw (If-Match),
    moved on to its next version: every change gets its own ETag."""
    plan = await get_plan(uow.session, plan_id, for_update=True)
    if expected_version is not None and expected_version != plan.version:
        raise PreconditionFailed(
            f"the plan is at version {plan.version}, not {expected_version}: reload and retry"
        )
    plan.version += 1
    plan.updated_at = _now()
    return plan


async def _editable_plan(uow: UnitOfWork, plan_id: str, expected_version: int | None) -> Plan:
    plan = await _plan_to_change(uow, plan_id, expected_version)
    domain.ensure_editable(domain.PlanStatus(plan.status))
    return plan


def _require_part(parts: list, part_id: str | None, field: str) -> None:
    if part_id is not None and part_id not in {p.id for p in parts}:
        raise RuleViolation(
            f"{field} {part_id} is not part of this plan",
            errors=[{"field": field, "message": "not part of this plan"}],
        )


async def add_goal(
    uow: UnitOfWork, plan_id: str, cmd: schemas.GoalCreate, expected_version: int | None = None
) -> tuple[Goal, Plan]:
    async with uow:
        plan = await _editable_plan(uow, plan_id, expected_version)
        goal = Goal(id=_new_id(), plan_id=plan.id, position=len(plan.goals), **cmd.model_dump())
        uow.session.add(goal)
        await uow.commit()
    return goal, plan


async def create_audience(uow: UnitOfWork, cmd: schemas.AudienceCreate) -> Audience:
    async with uow:
        audience = Audience(id=_new_id(), created_at=_now(), **cmd.model_dump())
        uow.session.add(audience)
        await uow.commit()
    return audience


async def add_audience(
    uow: UnitOfWork, plan_id: str, cmd: schemas.PlanAudienceAdd, expected_version: int | None = None
) -> tuple[Audience, Plan]:
    """Link an existing audience to the plan, or create a new one and link it."""
    async with uow:
        plan = await _editable_plan(uow, plan_id, expected_version)
        if cmd.audience_id is None:
            audience = Audience(
                id=_new_id(), created_at=_now(), **cmd.model_dump(exclude={"audience_id"})
            )
            uow.session.add(audience)
            await uow.session.flush()
        else:
            audience = await uow.session.get(Audience, cmd.audience_id)
            if audience is None:
                raise RuleViolation(
                    f"no audience with id {cmd.audience_id}",
                    errors=[{"field": "audience_id", "message": "no such audience"}],
                )
            if audience in plan.audiences:
                raise Conflict(f"the plan already reaches {audience.name}")
        uow.session.add(
            PlanAudience(plan_id=plan.id, audience_id=audience.id, position=len(plan.audiences))
        )
        await uow.commit()
    return audience, plan


async def add_message(
    uow: UnitOfWork,
    plan_id: str,
    cmd: schemas.MessageCreate,
    expected_version: int | None = None,
    *,
    lix_threshold: float,
) -> tuple[Message, Plan]:
    async with uow:
        plan = await _editable_plan(uow, plan_id, expected_version)
        _require_part(plan.audiences, cmd.audience_id, "audience_id")
        audience = next(a for a in plan.audiences if a.id == cmd.audience_id)
        score = domain.lix(cmd.body)
        message = Message(
            id=_new_id(),
            plan_id=plan.id,
            position=len(plan.messages),
            **cmd.model_dump(),
            lix=score,
            readability_warning=domain.readability_warning(
                domain.AudienceKind(audience.kind), score, lix_threshold
            ),
        )
        uow.session.add(message)
        await uow.commit()
    return message, plan


async def add_channel(
    uow: UnitOfWork, plan_id: str, cmd: schemas.ChannelCreate, expected_version: int | None = None
) -> tuple[Channel, Plan]:
    async with uow:
        plan = await _editable_plan(uow, plan_id, expected_version)
        channel = Channel(
            id=_new_id(), plan_id=plan.id, position=len(plan.channels), **cmd.model_dump()
        )
        uow.session.add(channel)
        await uow.commit()
    return channel, plan


async def add_activity(
    uow: UnitOfWork, plan_id: str, cmd: schemas.ActivityCreate, expected_version: int | None = None
) -> tuple[Activity, Plan]:
    async with uow:
        plan = await _editable_plan(uow, plan_id, expected_version)
        _require_part(plan.audiences, cmd.audience_id, "audience_id")
        _require_part(plan.messages, cmd.message_id, "message_id")
        _require_part(plan.channels, cmd.channel_id, "channel_id")
        if cmd.message_id is not None:
            message = next(m for m in plan.messages if m.id == cmd.message_id)
            domain.check_message_fits_audience(message.audience_id, cmd.audience_id)
        event = cmd.event
        activity = Activity(
            id=_new_id(),
            plan_id=plan.id,
            position=len(plan.activities),
            **cmd.model_dump(exclude={"event"}),
            event_format=event.format if event else None,
            capacity=event.capacity if event else None,
            venue=event.venue if event else None,
        )
        uow.session.add(activity)
        await uow.commit()
    return activity, plan


async def _change_status(
    uow: UnitOfWork,
    plan_id: str,
    expected_version: int | None,
    transition: Callable[[domain.PlanStatus], domain.PlanStatus],
    announce: Callable[[Plan, datetime], EventData],
) -> Plan:
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected_version)
        plan.status = transition(domain.PlanStatus(plan.status))
        uow.publish(announce(plan, plan.updated_at), subject=plan.id)
        await uow.commit()
    return plan


async def submit_plan(
    uow: UnitOfWork, plan_id: str, by: Principal, expected_version: int | None
) -> Plan:
    return await _change_status(
        uow, plan_id, expected_version, domain.submit,
        lambda plan, now: PlanSubmitted(plan_id=plan.id, title=plan.title, owner=plan.owner,
                                        submitted_by=by.subject, submitted_at=now),
    )  # fmt: skip


async def close_plan(
    uow: UnitOfWork, plan_id: str, by: Principal, expected_version: int | None
) -> Plan:
    return await _change_status(
        uow, plan_id, expected_version, domain.close,
        lambda plan, now: PlanClosed(plan_id=plan.id, closed_by=by.subject, closed_at=now),
    )  # fmt: skip


async def _activity_to_change(
    uow: UnitOfWork, plan_id: str, activity_id: str, expected_version: int | None
) -> tuple[Plan, Activity]:
    plan = await _plan_to_change(uow, plan_id, expected_version)
    activity = next((a for a in plan.activities if a.id == activity_id), None)
    if activity is None:
        raise NotFound(f"the plan has no activity {activity_id}")
    domain.check_not_cancelled(activity.cancelled_at is not None)
    return plan, activity


def _record_deviation(
    uow: UnitOfWork, plan: Plan, activity: Activity, change: domain.Change, before: str, after: str,
    cmd: schemas.ActivityChange, by: Principal, now: datetime,
) -> None:  # fmt: skip
    domain.check_deviation(cmd.reason, cmd.agreed_by)
    assert cmd.reason is not None and cmd.agreed_by is not None
    deviation = Deviation(
        id=_new_id(), plan_id=plan.id, activity_id=activity.id, change=change, before=before,
        after=after, reason=cmd.reason, agreed_by=cmd.agreed_by, recorded_by=by.subject,
        recorded_at=now,
    )  # fmt: skip
    uow.session.add(deviation)
    uow.publish(
        DeviationRecorded(
            deviation_id=deviation.id,
            plan_id=plan.id,
            activity_id=activity.id,
            change=change,
            before=before,
            after=after,
            reason=cmd.reason,
            agreed_by=cmd.agreed_by,
            recorded_by=by.subject,
        ),  # fmt: skip
        subject=plan.id,
    )


async def reschedule_activity(
    uow: UnitOfWork, plan_id: str, activity_id: str, cmd: schemas.Reschedule, by: Principal,
    expected_version: int | None,
) -> tuple[Activity, Plan]:  # fmt: skip
    """Move an activity. On an approved plan that is a deviation: recorded and published."""
    async with uow:
        plan, activity = await _activity_to_change(uow, plan_id, activity_id, expected_version)
        now, before = plan.updated_at, activity.starts_at
        if domain.is_deviation(domain.PlanStatus(plan.status)):
            _record_deviation(uow, plan, activity, domain.Change.RESCHEDULED, before.isoformat(),
                              cmd.starts_at.isoformat(), cmd, by, now)  # fmt: skip
            uow.publish(
                ActivityRescheduled(
                    activity_id=activity.id,
                    plan_id=plan.id,
                    title=activity.title,
                    kind=activity.kind,
                    previous_starts_at=before,
                    starts_at=cmd.starts_at,
                    reason=cmd.reason or "",
                ),  # fmt: skip
                subject=activity.id,
            )
        activity.starts_at = cmd.starts_at
        if cmd.starts_at > now:
            activity.due_fired_at = None  # it falls due again, at its new time
        await uow.commit()
    return activity, plan


async def cancel_activity(
    uow: UnitOfWork, plan_id: str, activity_id: str, cmd: schemas.ActivityChange, by: Principal,
    expected_version: int | None,
) -> tuple[Activity, Plan]:  # fmt: skip
    """Cancel an activity. On an approved plan that is a deviation: recorded and published."""
    async with uow:
        plan, activity = await _activity_to_change(uow, plan_id, activity_id, expected_version)
        now = plan.updated_at
        if domain.is_deviation(domain.PlanStatus(plan.status)):
            _record_deviation(uow, plan, activity, domain.Change.CANCELLED,
                              activity.starts_at.isoformat(), "cancelled", cmd, by, now)  # fmt: skip
            uow.publish(
                ActivityCancelled(
                    activity_id=activity.id,
                    plan_id=plan.id,
                    title=activity.title,
                    kind=activity.kind,
                    reason=cmd.reason or "",
                ),  # fmt: skip
                subject=activity.id,
            )
        activity.cancelled_at = now
        await uow.commit()
    return activity, plan


async def approve_plan(
    uow: UnitOfWork, plan_id: str, approver: Principal, expected_version: int | None
) -> Plan:
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected_version)
        domain.check_approvable(
            domain.PlanStatus(plan.status),
            len(plan.goals),
            [
                domain.ActivityDraft(
                    title=a.title,
                    kind=domain.ActivityKind(a.kind),
                    audience_id=a.audience_id,
                    message_id=a.message_id,
                    channel_id=a.channel_id,
                    has_event_details=a.event_format is not None and a.capacity is not None,
                )
                for a in plan.live_activities
            ],
        )
        now = plan.updated_at
        plan.status = domain.PlanStatus.APPROVED
        plan.approved_by = approver.subject
        plan.approved_at = now
        uow.publish(
            PlanApproved(
                plan_id=plan.id,
                title=plan.title,
                owner=plan.owner,
                sender=plan.sender,
                approved_by=approver.subject,
                approved_at=now,
                activity_ids=[a.id for a in plan.live_activities],
                goals=[
                    GoalRef(
                        id=g.id, metric=g.metric, target=g.target, unit=g.unit, deadline=g.deadline
                    )
                    for g in plan.goals
                ],
            ),
            subject=plan.id,
        )
        for activity in plan.live_activities:
            uow.publish(_activity_approved(plan, activity), subject=activity.id)
        await uow.commit()
    return plan


def _activity_approved(plan: Plan, activity: Activity) -> ActivityApproved:
    audience = next(a for a in plan.audiences if a.id == activity.audience_id)
    message = next(m for m in plan.messages if m.id == activity.message_id)
    channel = next(c for c in plan.channels if c.id == activity.channel_id)
    event = None
    if activity.event_format is not None and activity.capacity is not None:
        event = EventDetails(
            format=activity.event_format, capacity=activity.capacity, venue=activity.venue
        )
    return ActivityApproved(
        activity_id=activity.id,
        plan_id=plan.id,
        title=activity.title,
        kind=activity.kind,
        channel=channel.kind,
        starts_at=activity.starts_at,
        audience=AudienceRef(id=audience.id, name=audience.name),
        message=MessageRef(id=message.id, subject=message.subject, body=message.body),
        event=event,
    )
