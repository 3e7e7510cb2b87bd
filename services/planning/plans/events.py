"""What a plan's changes tell the other services: its contract events, built from the plan."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

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
    PlanRevised,
    PlanSubmitted,
)

if TYPE_CHECKING:
    from services.planning.plans.model import Edit, Plan
    from services.planning.plans.parts import Activity, Deviation


def goal_refs(plan: Plan) -> list[GoalRef]:
    return [
        GoalRef(id=g.id, metric=g.metric, target=g.target, unit=g.unit, deadline=g.deadline)
        for g in plan.goals
    ]


def plan_submitted(plan: Plan, edit: Edit) -> PlanSubmitted:
    return PlanSubmitted(
        plan_id=plan.id,
        title=plan.title,
        owner=plan.owner,
        submitted_by=edit.by,
        submitted_at=edit.at,
    )


def plan_approved(plan: Plan) -> PlanApproved:
    assert plan.approved_by is not None and plan.approved_at is not None
    return PlanApproved(
        plan_id=plan.id,
        title=plan.title,
        owner=plan.owner,
        sender=plan.sender,
        approved_by=plan.approved_by,
        approved_at=plan.approved_at,
        activity_ids=[a.id for a in plan.live_activities],
        goals=goal_refs(plan),
    )


def plan_revised(plan: Plan, change: str, edit: Edit) -> PlanRevised:
    """An approved plan changed, as agreed: what it now holds."""
    return PlanRevised(
        plan_id=plan.id,
        version=plan.version,
        change=change,
        reason=edit.reason,
        agreed_by=edit.agreed_by,
        revised_by=edit.by,
        revised_at=plan.updated_at,
        activity_ids=[a.id for a in plan.live_activities],
        goals=goal_refs(plan),
    )


def activity_approved(plan: Plan, activity: Activity) -> ActivityApproved:
    """An activity as it goes out for the other services to carry out."""
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


def deviation_recorded(deviation: Deviation) -> DeviationRecorded:
    assert deviation.activity_id is not None
    return DeviationRecorded(
        deviation_id=deviation.id,
        plan_id=deviation.plan_id,
        activity_id=deviation.activity_id,
        change=deviation.change,
        before=deviation.before,
        after=deviation.after,
        reason=deviation.reason,
        agreed_by=deviation.agreed_by,
        recorded_by=deviation.recorded_by,
    )


def activity_rescheduled(
    activity: Activity, previous_starts_at: datetime, reason: str | None
) -> ActivityRescheduled:
    return ActivityRescheduled(
        activity_id=activity.id,
        plan_id=activity.plan_id,
        title=activity.title,
        kind=activity.kind,
        previous_starts_at=previous_starts_at,
        starts_at=activity.starts_at,
        reason=reason,
        occurrences=activity.times if activity.occurrences is not None else [],
    )


def activity_cancelled(activity: Activity, reason: str | None) -> ActivityCancelled:
    return ActivityCancelled(
        activity_id=activity.id,
        plan_id=activity.plan_id,
        title=activity.title,
        kind=activity.kind,
        reason=reason,
    )
