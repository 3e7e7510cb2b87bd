"""What the planning API does: each function is one command, in one unit of work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning import domain, schemas
from services.planning.tables import (
    Activity,
    ActivityPartner,
    Audience,
    Channel,
    Deviation,
    Goal,
    Message,
    Partner,
    Plan,
    PlanAudience,
    PlanVersion,
    StrategyNode,
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
    PlanRevised,
    PlanSubmitted,
)
from shared.errors import Conflict, NotFound, PreconditionFailed, RuleViolation
from shared.pagination import fetch_page
from shared.uow import UnitOfWork

T = TypeVar("T")


def _new_id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


async def get_plan(
    session: AsyncSession, plan_id: str, *, for_update: bool = False, reload: bool = False
) -> Plan:
    """The plan with its parts; `for_update` locks its row until the transaction ends, so
    concurrent writers to one plan take turns (and each gets its own version); `reload` reads
    the parts again after this transaction added some."""
    plan = await session.get(
        Plan,
        plan_id,
        with_for_update=for_update,
        populate_existing=for_update or reload,
        options=[
            selectinload(Plan.goals),
            selectinload(Plan.audiences),
            selectinload(Plan.messages),
            selectinload(Plan.channels),
            selectinload(Plan.activities).selectinload(Activity.partners),
            selectinload(Plan.deviations),
        ],
    )
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    return plan


async def get_one(session: AsyncSession, table: type[T], id_: str, what: str) -> T:
    """One row of the organisation's audiences, partners…, or 404 naming what is missing."""
    found = await session.get(table, id_)
    if found is None:
        raise NotFound(f"no {what} with id {id_}")
    return found


async def list_plans(
    session: AsyncSession, *, status: domain.PlanStatus | None, limit: int, offset: int
) -> tuple[list[Plan], int]:
    query = select(Plan)
    if status is not None:
        query = query.where(Plan.status == status)
    return await fetch_page(
        session, query.order_by(Plan.created_at, Plan.id), limit=limit, offset=offset
    )


async def create_plan(uow: UnitOfWork, cmd: schemas.PlanCreate, by: Principal) -> Plan:
    domain.check_period(cmd.period_start, cmd.period_end)
    async with uow:
        await _check_track(uow.session, cmd.track_id)
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
        await _commit_version(uow, plan, by, "created")
    return plan


async def _check_track(session: AsyncSession, track_id: str | None) -> None:
    if track_id is None:
        return
    node = await session.get(StrategyNode, track_id)
    if node is None or domain.NodeLevel(node.level) not in domain.LINKABLE:
        raise RuleViolation(
            f"{track_id} is not a track or sub-track of a strategy",
            errors=[{"field": "track_id", "message": "no such track or sub-track"}],
        )


def snapshot(plan: Plan) -> dict:
    """The plan and its parts as JSON, as kept for each version."""
    # when an activity next falls due is the timer's state, not the plan's content
    return schemas.PlanSnapshot.model_validate(plan).model_dump(
        mode="json", exclude={"activities": {"__all__": {"next_due_at"}}}
    )


async def _commit_version(
    uow: UnitOfWork, plan: Plan, by: Principal, change: str, deviation: Deviation | None = None
) -> Plan:
    plan = await record_version(uow, plan, by, change, deviation)
    await uow.commit()
    return plan


async def record_version(
    uow: UnitOfWork, plan: Plan, by: Principal, change: str, deviation: Deviation | None = None
) -> Plan:
    """Keep the plan as it now is as its new version, and tell subscribers when an approved
    plan was revised (a deviation)."""
    await uow.session.flush()
    plan = await get_plan(uow.session, plan.id, reload=True)
    uow.session.add(
        PlanVersion(
            plan_id=plan.id,
            version=plan.version,
            change=change[:300],
            changed_by=by.subject,
            changed_at=plan.updated_at,
            snapshot=snapshot(plan),
        )  # fmt: skip
    )
    if deviation is not None:
        uow.publish(
            PlanRevised(
                plan_id=plan.id,
                version=plan.version,
                change=change,
                reason=deviation.reason,
                agreed_by=deviation.agreed_by,
                revised_by=by.subject,
                revised_at=plan.updated_at,
                activity_ids=[a.id for a in plan.live_activities],
                goals=_goal_refs(plan),
            ),  # fmt: skip
            subject=plan.id,
        )
    return plan


def _goal_refs(plan: Plan) -> list[GoalRef]:
    return [
        GoalRef(id=g.id, metric=g.metric, target=g.target, unit=g.unit, deadline=g.deadline)
        for g in plan.goals
    ]


async def _plan_to_change(uow: UnitOfWork, plan_id: str, expected: frozenset[int] | None) -> Plan:
    """The plan, locked until the transaction ends and at the version the caller saw (If-Match),
    moved on to its next version: every change gets its own ETag."""
    plan = await get_plan(uow.session, plan_id, for_update=True)
    if expected is not None and plan.version not in expected:
        raise PreconditionFailed(
            f"the plan is at version {plan.version}, not {_listed(expected)}: reload and retry"
        )
    await keep_baseline(uow, plan)
    plan.version += 1
    plan.updated_at = _now()
    return plan


async def keep_baseline(uow: UnitOfWork, plan: Plan) -> None:
    """A plan made before versions were kept: before it changes, its present state becomes
    the first version of its history."""
    kept = select(PlanVersion.version).where(PlanVersion.plan_id == plan.id).limit(1)
    if await uow.session.scalar(kept) is None:
        uow.session.add(
            PlanVersion(
                plan_id=plan.id,
                version=plan.version,
                change="as it was when versions began",
                changed_by="budskab",
                changed_at=plan.updated_at,
                snapshot=snapshot(plan),
            )  # fmt: skip
        )


def _listed(versions: frozenset[int]) -> str:
    return " or ".join(str(v) for v in sorted(versions))


def _deviation(
    uow: UnitOfWork, plan: Plan, change: domain.Change, cmd: schemas.AgreedChange, by: Principal,
    *, activity: Activity | None = None, before: str = "", after: str = "",
) -> Deviation | None:  # fmt: skip
    """Changing a draft is planning; changing an approved plan is a deviation: it needs a reason
    and who agreed, and is recorded and published. None for a draft."""
    if not domain.is_deviation(domain.PlanStatus(plan.status)):
        return None
    domain.check_deviation(cmd.reason, cmd.agreed_by)
    assert cmd.reason is not None and cmd.agreed_by is not None
    deviation = Deviation(
        id=_new_id(), plan_id=plan.id, activity_id=activity.id if activity else None,
        change=change, before=before, after=after, reason=cmd.reason, agreed_by=cmd.agreed_by,
        recorded_by=by.subject, recorded_at=plan.updated_at,
    )  # fmt: skip
    uow.session.add(deviation)
    if activity is None:
        return deviation  # a change to the plan itself: plan.revised.v1 tells it
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
    return deviation


def _fields(cmd: schemas.AgreedChange, *also: str) -> dict:
    """The command's fields for a new row, without the deviation's."""
    return cmd.model_dump(exclude=schemas.DEVIATION_FIELDS | set(also))


def _require_part(parts: list, part_id: str | None, field: str) -> None:
    if part_id is not None and part_id not in {p.id for p in parts}:
        raise RuleViolation(
            f"{field} {part_id} is not part of this plan",
            errors=[{"field": field, "message": "not part of this plan"}],
        )


async def add_goal(
    uow: UnitOfWork, plan_id: str, cmd: schemas.GoalCreate, by: Principal,
    expected: frozenset[int] | None = None,
) -> tuple[Goal, Plan]:  # fmt: skip
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        goal = Goal(id=_new_id(), plan_id=plan.id, position=len(plan.goals), **_fields(cmd))
        uow.session.add(goal)
        change = f"goal added: {goal.description}"
        deviation = _deviation(uow, plan, domain.Change.GOAL_ADDED, cmd, by, after=goal.metric)
        plan = await _commit_version(uow, plan, by, change, deviation)
    return goal, plan


async def create_audience(uow: UnitOfWork, cmd: schemas.AudienceCreate) -> Audience:
    async with uow:
        audience = Audience(id=_new_id(), created_at=_now(), **cmd.model_dump())
        uow.session.add(audience)
        await uow.commit()
    return audience


async def create_partner(uow: UnitOfWork, cmd: schemas.PartnerCreate) -> Partner:
    async with uow:
        partner = Partner(id=_new_id(), created_at=_now(), **cmd.model_dump())
        uow.session.add(partner)
        await uow.commit()
    return partner


async def add_audience(
    uow: UnitOfWork, plan_id: str, cmd: schemas.PlanAudienceAdd, by: Principal,
    expected: frozenset[int] | None = None,
) -> tuple[Audience, Plan]:  # fmt: skip
    """Link an existing audience to the plan, or create a new one and link it."""
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        if cmd.audience_id is None:
            audience = Audience(id=_new_id(), created_at=_now(), **_fields(cmd, "audience_id"))
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
        change = f"audience added: {audience.name}"
        deviation = _deviation(uow, plan, domain.Change.AUDIENCE_ADDED, cmd, by,
                               after=audience.name)  # fmt: skip
        plan = await _commit_version(uow, plan, by, change, deviation)
    return audience, plan


async def add_message(
    uow: UnitOfWork, plan_id: str, cmd: schemas.MessageCreate, by: Principal,
    expected: frozenset[int] | None = None, *, lix_threshold: float,
) -> tuple[Message, Plan]:  # fmt: skip
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        _require_part(plan.audiences, cmd.audience_id, "audience_id")
        audience = next(a for a in plan.audiences if a.id == cmd.audience_id)
        score = domain.lix(cmd.body)
        message = Message(
            id=_new_id(),
            plan_id=plan.id,
            position=len(plan.messages),
            **_fields(cmd),
            lix=score,
            readability_warning=domain.readability_warning(
                domain.AudienceKind(audience.kind), score, lix_threshold
            ),
        )
        uow.session.add(message)
        change = f"message added: {message.subject}"
        deviation = _deviation(uow, plan, domain.Change.MESSAGE_ADDED, cmd, by,
                               after=message.subject)  # fmt: skip
        plan = await _commit_version(uow, plan, by, change, deviation)
    return message, plan


async def add_channel(
    uow: UnitOfWork, plan_id: str, cmd: schemas.ChannelCreate, by: Principal,
    expected: frozenset[int] | None = None,
) -> tuple[Channel, Plan]:  # fmt: skip
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        channel = Channel(
            id=_new_id(), plan_id=plan.id, position=len(plan.channels), **_fields(cmd)
        )
        uow.session.add(channel)
        change = f"channel added: {channel.name}"
        deviation = _deviation(uow, plan, domain.Change.CHANNEL_ADDED, cmd, by,
                               after=channel.name)  # fmt: skip
        plan = await _commit_version(uow, plan, by, change, deviation)
    return channel, plan


async def _partners(session: AsyncSession, partner_ids: list[str]) -> list[Partner]:
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


def _schedule(starts_at: datetime, recurrence: str | None, kind: str) -> dict:
    """An activity's recurrence (as kept), occurrences and end, checked and expanded once."""
    if recurrence is None:
        return {"recurrence": None, "occurrences": None, "ends_at": starts_at}
    rule, times = domain.expand_recurrence(recurrence, starts_at, domain.ActivityKind(kind))
    return {"recurrence": rule, "occurrences": [t.isoformat() for t in times], "ends_at": times[-1]}


async def add_activity(
    uow: UnitOfWork, plan_id: str, cmd: schemas.ActivityCreate, by: Principal,
    expected: frozenset[int] | None = None,
) -> tuple[Activity, Plan]:  # fmt: skip
    """Add an activity. On an approved plan it is a deviation, and the activity must be complete
    (audience, message, channel): it is published at once, like those approved with the plan."""
    # a rule engine may search a while for a series' occurrences: not on the event loop
    times = await asyncio.to_thread(_schedule, cmd.starts_at, cmd.recurrence, cmd.kind)
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        _require_part(plan.audiences, cmd.audience_id, "audience_id")
        _require_part(plan.messages, cmd.message_id, "message_id")
        _require_part(plan.channels, cmd.channel_id, "channel_id")
        if cmd.message_id is not None:
            message = next(m for m in plan.messages if m.id == cmd.message_id)
            domain.check_message_fits_audience(message.audience_id, cmd.audience_id)
        partners = await _partners(uow.session, cmd.partner_ids)
        event = cmd.event
        activity = Activity(
            id=_new_id(),
            plan_id=plan.id,
            position=len(plan.activities),
            **_fields(cmd, "event", "partner_ids", "recurrence"),
            event_format=event.format if event else None,
            capacity=event.capacity if event else None,
            venue=event.venue if event else None,
            **times,
            next_due_at=cmd.starts_at,
        )
        uow.session.add(activity)
        await uow.session.flush()  # the partner links refer to it
        uow.session.add_all(
            ActivityPartner(activity_id=activity.id, partner_id=p.id, position=i)
            for i, p in enumerate(partners)
        )
        if domain.is_deviation(domain.PlanStatus(plan.status)):
            domain.check_activity_complete(_draft(activity))
        deviation = _deviation(uow, plan, domain.Change.ACTIVITY_ADDED, cmd, by,
                               activity=activity, after=cmd.starts_at.isoformat())  # fmt: skip
        plan = await record_version(uow, plan, by, f"activity added: {activity.title}", deviation)
        if deviation is not None:  # the reloaded plan has the activity's partners
            uow.publish(_activity_approved(plan, activity), subject=activity.id)
        await uow.commit()
    return activity, plan


async def update_plan(
    uow: UnitOfWork, plan_id: str, cmd: schemas.PlanUpdate, by: Principal,
    expected: frozenset[int] | None = None,
) -> Plan:  # fmt: skip
    """Change the plan's own fields (title, owner, sender, track, period)."""
    given = {k: v for k, v in _fields(cmd).items() if k in cmd.model_fields_set}
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        changes = {k: v for k, v in given.items() if getattr(plan, k) != v}
        if not changes:
            raise RuleViolation("nothing to change: the plan already has these values")
        if "track_id" in changes:
            await _check_track(uow.session, changes["track_id"])
        domain.check_period(
            changes.get("period_start", plan.period_start),
            changes.get("period_end", plan.period_end),
        )
        before = {k: getattr(plan, k) for k in changes}
        for name, value in changes.items():
            setattr(plan, name, value)
        deviation = _deviation(uow, plan, domain.Change.PLAN_UPDATED, cmd, by,
                               before=_describe(before), after=_describe(changes))  # fmt: skip
        plan = await _commit_version(uow, plan, by, f"updated {_describe(changes)}", deviation)
    return plan


def _describe(fields: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in fields.items())


async def _change_status(
    uow: UnitOfWork,
    plan_id: str,
    by: Principal,
    expected: frozenset[int] | None,
    transition: Callable[[domain.PlanStatus], domain.PlanStatus],
    announce: Callable[[Plan, datetime], EventData],
) -> Plan:
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        plan.status = transition(domain.PlanStatus(plan.status))
        uow.publish(announce(plan, plan.updated_at), subject=plan.id)
        plan = await _commit_version(uow, plan, by, f"status: {plan.status}")
    return plan


async def submit_plan(
    uow: UnitOfWork, plan_id: str, by: Principal, expected: frozenset[int] | None
) -> Plan:
    return await _change_status(
        uow, plan_id, by, expected, domain.submit,
        lambda plan, now: PlanSubmitted(plan_id=plan.id, title=plan.title, owner=plan.owner,
                                        submitted_by=by.subject, submitted_at=now),
    )  # fmt: skip


async def close_plan(
    uow: UnitOfWork, plan_id: str, by: Principal, expected: frozenset[int] | None
) -> Plan:
    return await _change_status(
        uow, plan_id, by, expected, domain.close,
        lambda plan, now: PlanClosed(plan_id=plan.id, closed_by=by.subject, closed_at=now),
    )  # fmt: skip


async def _activity_to_change(
    uow: UnitOfWork, plan_id: str, activity_id: str, expected: frozenset[int] | None
) -> tuple[Plan, Activity]:
    plan = await _plan_to_change(uow, plan_id, expected)
    activity = next((a for a in plan.activities if a.id == activity_id), None)
    if activity is None:
        raise NotFound(f"the plan has no activity {activity_id}")
    domain.check_not_cancelled(activity.cancelled_at is not None)
    return plan, activity


async def reschedule_activity(
    uow: UnitOfWork, plan_id: str, activity_id: str, cmd: schemas.Reschedule, by: Principal,
    expected: frozenset[int] | None,
) -> tuple[Activity, Plan]:  # fmt: skip
    """Move an activity (a recurring one: its series). On an approved plan that is a
    deviation: recorded and published."""
    async with uow:
        plan, activity = await _activity_to_change(uow, plan_id, activity_id, expected)
        now, before = plan.updated_at, activity.starts_at
        if cmd.starts_at == before:
            raise RuleViolation(
                "nothing to change: the activity is at that time already",
                errors=[{"field": "starts_at", "message": "the activity's time already"}],
            )
        times = await asyncio.to_thread(
            _schedule, cmd.starts_at, activity.recurrence, activity.kind
        )
        deviation = _deviation(uow, plan, domain.Change.RESCHEDULED, cmd, by, activity=activity,
                               before=before.isoformat(), after=cmd.starts_at.isoformat())  # fmt: skip
        if deviation is not None:
            uow.publish(
                ActivityRescheduled(
                    activity_id=activity.id,
                    plan_id=plan.id,
                    title=activity.title,
                    kind=activity.kind,
                    previous_starts_at=before,
                    starts_at=cmd.starts_at,
                    reason=deviation.reason,
                    occurrences=[datetime.fromisoformat(t) for t in times["occurrences"] or []],
                ),  # fmt: skip
                subject=activity.id,
            )
        activity.starts_at = cmd.starts_at
        activity.occurrences, activity.ends_at = times["occurrences"], times["ends_at"]
        # not fired yet: due at its new time; fired already: again only what lies ahead
        activity.next_due_at = (
            cmd.starts_at
            if activity.due_fired_at is None
            else domain.next_occurrence(activity.times, now)
        )
        change = f"activity rescheduled: {activity.title} {before.isoformat()} → {cmd.starts_at.isoformat()}"
        plan = await _commit_version(uow, plan, by, change, deviation)
    return activity, plan


async def cancel_activity(
    uow: UnitOfWork, plan_id: str, activity_id: str, cmd: schemas.AgreedChange, by: Principal,
    expected: frozenset[int] | None,
) -> tuple[Activity, Plan]:  # fmt: skip
    """Cancel an activity. On an approved plan that is a deviation: recorded and published."""
    async with uow:
        plan, activity = await _activity_to_change(uow, plan_id, activity_id, expected)
        deviation = _deviation(uow, plan, domain.Change.CANCELLED, cmd, by, activity=activity,
                               before=activity.starts_at.isoformat(), after="cancelled")  # fmt: skip
        if deviation is not None:
            uow.publish(
                ActivityCancelled(
                    activity_id=activity.id,
                    plan_id=plan.id,
                    title=activity.title,
                    kind=activity.kind,
                    reason=deviation.reason,
                ),  # fmt: skip
                subject=activity.id,
            )
        activity.cancelled_at = plan.updated_at
        activity.next_due_at = None
        plan = await _commit_version(uow, plan, by, f"activity cancelled: {activity.title}",
                                     deviation)  # fmt: skip
    return activity, plan


def _draft(activity: Activity) -> domain.ActivityDraft:
    return domain.ActivityDraft(
        title=activity.title,
        kind=domain.ActivityKind(activity.kind),
        audience_id=activity.audience_id,
        message_id=activity.message_id,
        channel_id=activity.channel_id,
        has_event_details=activity.event_format is not None and activity.capacity is not None,
    )


async def approve_plan(
    uow: UnitOfWork, plan_id: str, approver: Principal, expected: frozenset[int] | None
) -> Plan:
    async with uow:
        plan = await _plan_to_change(uow, plan_id, expected)
        domain.check_approvable(
            domain.PlanStatus(plan.status),
            len(plan.goals),
            [_draft(a) for a in plan.live_activities],
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
                goals=_goal_refs(plan),
            ),
            subject=plan.id,
        )
        for activity in plan.live_activities:
            uow.publish(_activity_approved(plan, activity), subject=activity.id)
        plan = await _commit_version(uow, plan, approver, "approved")
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
        owner=activity.owner,
        recurrence=activity.recurrence,
        occurrences=activity.times if activity.recurrence else [],
        partners=[p.name for p in activity.partners],
    )
