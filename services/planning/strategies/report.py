"""A year of a strategy, measured — where its yearly revision starts (DOMAIN.md, case C).

Track by track: the year's initiatives from its action plan, and the plans that served the
track in that year with each goal against its target (as the metrics service last measured
it) and each activity with what the other services reported doing (planning's projection of
their events). As JSON, and as one table for a spreadsheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning import domain
from services.planning.domain import NodeLevel
from services.planning.plans.model import Plan
from services.planning.strategies import schemas
from services.planning.strategies.model import ActionPlanVersion, Strategy, StrategyNode
from services.planning.strategies.repository import load_strategy
from services.planning.tables import ActivityOutcome
from shared.contracts.metrics import attained
from shared.spreadsheets import csv_text, spreadsheet_text
from shared.time import LOCAL_TIME


def default_year(strategy: Strategy, now: datetime) -> int:
    """This year in Denmark, or the nearest year of the strategy's period."""
    year = now.astimezone(LOCAL_TIME).year
    return min(max(year, strategy.period_start.year), strategy.period_end.year)


async def strategy_report(
    session: AsyncSession, strategy_id: str, year: int | None, now: datetime
) -> schemas.StrategyReport:
    strategy = await load_strategy(session, strategy_id)
    year = default_year(strategy, now) if year is None else year
    domain.check_action_plan_year(year, strategy.period_start, strategy.period_end)
    revision = await session.scalar(
        select(ActionPlanVersion)
        .where(ActionPlanVersion.strategy_id == strategy_id, ActionPlanVersion.year == year)
        .order_by(ActionPlanVersion.version.desc())
        .limit(1)
    )
    tracks = [n for n in strategy.nodes if n.level in domain.LINKABLE]
    plans = await _plans_in(session, [t.id for t in tracks], year)
    outcomes = {
        o.activity_id: o
        for o in await session.scalars(
            select(ActivityOutcome).where(ActivityOutcome.plan_id.in_([p.id for p in plans]))
        )
    }
    first, after = (datetime.combine(date(y, 1, 1), time(), LOCAL_TIME) for y in (year, year + 1))

    def result(plan: Plan) -> schemas.PlanResult:
        activities = []
        for activity in plan.activities:
            if times := activity.times_between(first, after):
                outcome = outcomes.get(activity.id)
                activities.append(
                    schemas.ActivityResult(
                        id=activity.id,
                        title=activity.title,
                        kind=activity.kind,
                        starts_at=times[0],
                        cancelled=activity.cancelled_at is not None,
                        deliveries_sent=outcome.deliveries_sent if outcome else 0,
                        deliveries_failed=outcome.deliveries_failed if outcome else 0,
                        event_confirmed=outcome.event_confirmed if outcome else None,
                        event_checked_in=outcome.event_checked_in if outcome else None,
                    )
                )
        goals = [
            schemas.GoalResult(
                description=g.description,
                metric=g.metric,
                target=g.target,
                unit=g.unit,
                measured_value=g.measured_value,
                measured_at=g.measured_at,
                attained=attained(g.measured_value, g.target),
            )
            for g in plan.goals
        ]
        return schemas.PlanResult(
            id=plan.id,
            title=plan.title,
            status=plan.status,
            period_start=plan.period_start,
            period_end=plan.period_end,
            goals=goals,
            activities=activities,
        )

    items = revision.items if revision else []
    by_id = {n.id: n for n in strategy.nodes}
    results = [
        schemas.TrackResult(
            id=track.id,
            name=track.name,
            level=NodeLevel(track.level),
            focus_area=_focus_area(track, by_id).name,
            initiatives=[item for item in items if item["track_id"] == track.id],
            plans=[result(p) for p in plans if p.track_id == track.id],
        )
        for track in tracks
    ]
    return schemas.StrategyReport(
        strategy=schemas.StrategySummary.model_validate(strategy),
        year=year,
        action_plan_version=revision.version if revision else None,
        summary=_summary(results),
        tracks=results,
    )


async def _plans_in(session: AsyncSession, track_ids: list[str], year: int) -> Sequence[Plan]:
    """The plans on these tracks whose period touches the year (or that have none)."""
    return (
        await session.scalars(
            select(Plan)
            .where(
                Plan.track_id.in_(track_ids),
                or_(Plan.period_start.is_(None), Plan.period_start <= date(year, 12, 31)),
                or_(Plan.period_end.is_(None), Plan.period_end >= date(year, 1, 1)),
            )
            .options(selectinload(Plan.goals), selectinload(Plan.activities))
            .order_by(Plan.created_at, Plan.id)
        )
    ).all()


def _focus_area(node: StrategyNode, by_id: dict[str, StrategyNode]) -> StrategyNode:
    while node.parent_id is not None:
        node = by_id[node.parent_id]
    return node


def _summary(tracks: list[schemas.TrackResult]) -> schemas.ReportSummary:
    plans = [p for t in tracks for p in t.plans]
    goals = [g for p in plans for g in p.goals]
    activities = [a for p in plans for a in p.activities]
    return schemas.ReportSummary(
        plans=len(plans),
        goals=len(goals),
        goals_attained=sum(g.attained is True for g in goals),
        goals_behind=sum(g.attained is False for g in goals),
        goals_not_measured=sum(g.attained is None for g in goals),
        activities=len(activities),
        activities_cancelled=sum(a.cancelled for a in activities),
        tracks_without_plans=[t.name for t in tracks if not t.plans],
    )


def csv_rows(report: schemas.StrategyReport) -> str:
    """The report as one table: per track, its initiatives, then per plan its goals and its
    activities."""
    safe = spreadsheet_text  # names are typed by people
    rows: list[Sequence[object]] = [
        ["focus_area", "track", "plan", "status", "row", "name", "target", "measured"]
        + ["attained", "sent", "failed", "registrations", "checked_in", "cancelled"]
    ]
    for t in report.tracks:
        where = [safe(t.focus_area), safe(t.name)]
        for item in t.initiatives:
            criterion = item.get("success_criterion", "")
            rows.append([*where, "", "", "initiative", safe(item["initiative"]), safe(criterion)])
        for p in t.plans:
            plan = [*where, safe(p.title), p.status]
            for g in p.goals:
                target = f"{g.target:g} {g.unit}"
                rows.append(
                    [*plan, "goal", safe(g.metric), safe(target), g.measured_value, g.attained]
                )
            for a in p.activities:
                rows.append(
                    [*plan, "activity", safe(a.title), "", "", ""]
                    + [a.deliveries_sent, a.deliveries_failed, a.event_confirmed]
                    + [a.event_checked_in, a.cancelled]
                )
    return csv_text([*row, *[""] * (len(rows[0]) - len(row))] for row in rows)  # all as wide
