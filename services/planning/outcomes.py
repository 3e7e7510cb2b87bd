"""What other services did with a plan's activities, as the plan shows it: an event's status,
time and final counts, and how many of an activity's messages were sent or failed.

Which report changes what is a plain rule (`outcome_of`); `ActivityOutcomes` writes the change
to the activity's outcome row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, assert_never

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.planning.tables import ActivityOutcome
from shared.contracts.events import (
    EventCancelled,
    EventCompleted,
    EventCreated,
    EventPublished,
    EventRescheduled,
)
from shared.contracts.notifications import DeliveryFailed, DeliverySent

Counter = Literal["deliveries_sent", "deliveries_failed"]
Report = (
    EventCreated
    | EventPublished
    | EventRescheduled
    | EventCancelled
    | EventCompleted
    | DeliverySent
    | DeliveryFailed
)


@dataclass
class OutcomeChange:
    """A change to one activity's outcome: figures set, and a counter one up."""

    activity_id: str
    plan_id: str
    values: dict[str, Any] = field(default_factory=dict)
    count: Counter | None = None


def outcome_of(report: Report) -> OutcomeChange | None:
    """The change a report makes on its activity's outcome; none for an organiser's own
    event, which belongs to no plan."""
    if not (report.activity_id and report.plan_id):
        return None
    activity_id, plan_id = report.activity_id, report.plan_id
    match report:
        case EventCreated():
            values = {
                "event_id": report.event_id,
                "event_status": "draft",
                "event_starts_at": report.starts_at,
            }
        case EventPublished():
            values = {"event_status": "published"}
        case EventRescheduled():  # the organiser moved it: the plan shows where it went
            values = {"event_starts_at": report.starts_at}
        case EventCancelled():
            values = {"event_status": "cancelled"}
        case EventCompleted():
            values = {
                "event_status": "completed",
                "event_confirmed": report.confirmed,
                "event_checked_in": report.checked_in,
            }
        case DeliverySent():
            return OutcomeChange(activity_id, plan_id, count="deliveries_sent")
        case DeliveryFailed():
            return OutcomeChange(activity_id, plan_id, count="deliveries_failed")
        case _:
            assert_never(report)
    return OutcomeChange(activity_id, plan_id, values)


class ActivityOutcomes:
    """The outcome rows of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def apply(self, change: OutcomeChange) -> None:
        """Write the change, creating the activity's row first if needed. A counter goes up
        as an SQL expression (`column + 1`), so consumers of different partitions never lose
        an increment; a racing first insert fails on the key, and the consumer's retry
        updates."""
        this = ActivityOutcome.activity_id == change.activity_id
        if await self.session.scalar(select(ActivityOutcome.activity_id).where(this)) is None:
            await self.session.execute(
                insert(ActivityOutcome).values(
                    activity_id=change.activity_id,
                    plan_id=change.plan_id,
                    deliveries_sent=0,
                    deliveries_failed=0,
                )
            )
        values = dict(change.values)
        if change.count is not None:
            values[change.count] = getattr(ActivityOutcome, change.count) + 1
        await self.session.execute(update(ActivityOutcome).where(this).values(**values))
