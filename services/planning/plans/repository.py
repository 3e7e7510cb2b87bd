"""Plans in the database: read whole, locked for a change, and kept with their history.

Commands reach them as `uow.plans` (`services.planning.unit_of_work`). When the unit of work
commits, every plan changed in it has its new version kept (a snapshot, for the history and its diffs) and its
events moved into the outbox, in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning.plans.history import snapshot
from services.planning.plans.model import Plan
from services.planning.plans.parts import Activity, Goal, PlanAudience
from services.planning.tables import PlanVersion
from shared.errors import NotFound
from shared.uow import UnitOfWork

WHOLE_PLAN = [
    selectinload(Plan.goals),
    selectinload(Plan.audience_links).selectinload(PlanAudience.audience),
    selectinload(Plan.messages),
    selectinload(Plan.channels),
    selectinload(Plan.activities).selectinload(Activity.partner_links),
    selectinload(Plan.deviations),
]


async def load_plan(session: AsyncSession, plan_id: str, *, lock: bool = False) -> Plan:
    """The plan with all its parts, read afresh; `lock` holds its row until the transaction
    ends, so concurrent writers to one plan take turns."""
    plan = await session.get(
        Plan, plan_id, with_for_update=lock, populate_existing=True, options=WHOLE_PLAN
    )
    if plan is None:
        raise NotFound(f"no plan with id {plan_id}")
    return plan


class Plans:
    """The plans of one unit of work."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.seen: list[Plan] = []

    async def get(self, plan_id: str) -> Plan:
        return await load_plan(self.session, plan_id)

    async def get_for_change(self, plan_id: str, expected: frozenset[int] | None) -> Plan:
        """The plan, locked until the transaction ends and at a version the caller saw
        (If-Match; None: any)."""
        plan = await load_plan(self.session, plan_id, lock=True)
        plan.check_version(expected)
        await self._keep_baseline(plan)
        self.seen.append(plan)
        return plan

    async def goal(self, plan_id: str, goal_id: str) -> Goal | None:
        """A goal of the plan, locked until the transaction ends: for its measured value,
        which is not part of the plan's versions."""
        return await self.session.scalar(
            select(Goal).where(Goal.id == goal_id, Goal.plan_id == plan_id).with_for_update()
        )

    def add(self, plan: Plan) -> None:
        self.session.add(plan)
        self.seen.append(plan)

    async def save(self, uow: UnitOfWork) -> None:
        """Keep each changed plan's new version, and hand its events to the outbox."""
        await self.session.flush()
        for plan in self.seen:
            change, events = plan.take_change()
            for data, subject in events:
                uow.publish(data, subject=subject)
            if change is None:
                continue
            # read back whole: the snapshot shows the plan as stored
            plan = await load_plan(self.session, plan.id)
            self.session.add(
                PlanVersion(
                    plan_id=plan.id,
                    version=plan.version,
                    change=change.change[:300],
                    changed_by=change.by,
                    changed_at=plan.updated_at,
                    snapshot=snapshot(plan),
                )
            )
        self.seen.clear()

    async def _keep_baseline(self, plan: Plan) -> None:
        """A plan made before versions were kept: before it changes, its present state
        becomes the first version of its history."""
        kept = select(PlanVersion.version).where(PlanVersion.plan_id == plan.id).limit(1)
        if await self.session.scalar(kept) is None:
            self.session.add(
                PlanVersion(
                    plan_id=plan.id,
                    version=plan.version,
                    change="as it was when versions began",
                    changed_by="budskab",
                    changed_at=plan.updated_at,
                    snapshot=snapshot(plan),
                )
            )
