"""A year of a strategy, measured — where its yearly revision starts (DOMAIN.md, case C).

Node by node in the tree's order: the year's initiatives from its action plan, and the plans
on the node whose period touches the year, with each goal against its target (as the metrics
service last measured it) and each activity of the year with what the other services
reported doing (planning's projection of their events). As JSON, as one table for a
spreadsheet, and as a page with charts behind a link that expires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime

import pygal
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from services.planning import domain
from services.planning.plans.model import Plan
from services.planning.plans.parts import Activity
from services.planning.settings import PlanningSettings
from services.planning.strategies import schemas
from services.planning.strategies.model import ActionPlanVersion, Strategy, StrategyNode
from services.planning.strategies.repository import load_strategy
from services.planning.tables import ActivityOutcome
from shared.charts import chart, goals_chart, svg
from shared.links import ExpiringSigner
from shared.spreadsheets import csv_text, spreadsheet_text
from shared.time import LOCAL_TIME, local_midnight

REPORT_LINK_DAYS = 30


def _links(settings: PlanningSettings) -> ExpiringSigner:
    return ExpiringSigner(settings.link_key, "strategy report", days=REPORT_LINK_DAYS)


def report_link(settings: PlanningSettings, strategy_id: str, year: int) -> str:
    token = _links(settings).token(strategy_id)
    return f"{settings.public_url.rstrip('/')}/reports/strategies/{token}?year={year}"


def strategy_of_link(settings: PlanningSettings, token: str) -> str:
    return _links(settings).value(token)


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
    items = revision.items if revision else []
    plans = await _plans_in(session, [n.id for n in strategy.nodes], year)
    outcomes = {
        o.activity_id: o
        for o in await session.scalars(
            select(ActivityOutcome).where(ActivityOutcome.plan_id.in_([p.id for p in plans]))
        )
    }
    first, after = local_midnight(date(year, 1, 1)), local_midnight(date(year + 1, 1, 1))

    def activity_result(activity: Activity, times: list[datetime]) -> schemas.ActivityResult:
        outcome = outcomes.get(activity.id)
        return schemas.ActivityResult(
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

    def plan_result(plan: Plan) -> schemas.PlanResult:
        return schemas.PlanResult(
            id=plan.id,
            title=plan.title,
            status=domain.PlanStatus(plan.status),
            period_start=plan.period_start,
            period_end=plan.period_end,
            goals=[schemas.GoalResult.model_validate(goal) for goal in plan.goals],
            activities=[
                activity_result(a, times)
                for a in plan.activities
                if (times := a.times_between(first, after))
            ],
        )

    by_id = {n.id: n for n in strategy.nodes}
    nodes = [
        schemas.NodeResult(
            id=node.id,
            name=node.name,
            level=domain.NodeLevel(node.level),
            focus_area=list(_up_from(node, by_id))[-1].name,
            initiatives=[item for item in items if item["track_id"] == node.id],
            plans=[plan_result(p) for p in plans if p.track_id == node.id],
        )
        for node in strategy.nodes
    ]
    return schemas.StrategyReport(
        strategy=schemas.StrategySummary.model_validate(strategy),
        year=year,
        action_plan_version=revision.version if revision else None,
        summary=_summary(nodes, by_id),
        nodes=nodes,
    )


async def _plans_in(session: AsyncSession, node_ids: list[str], year: int) -> Sequence[Plan]:
    """The plans on these nodes whose period touches the year (or that have none)."""
    return (
        await session.scalars(
            select(Plan)
            .where(
                Plan.track_id.in_(node_ids),
                or_(Plan.period_start.is_(None), Plan.period_start <= date(year, 12, 31)),
                or_(Plan.period_end.is_(None), Plan.period_end >= date(year, 1, 1)),
            )
            .options(selectinload(Plan.goals), selectinload(Plan.activities))
            .order_by(Plan.created_at, Plan.id)
        )
    ).all()


def _up_from(node: StrategyNode, by_id: dict[str, StrategyNode]) -> Iterator[StrategyNode]:
    """The node, its parent, and so on up to its focus area."""
    yield node
    while node.parent_id is not None:
        node = by_id[node.parent_id]
        yield node


def _summary(
    nodes: list[schemas.NodeResult], by_id: dict[str, StrategyNode]
) -> schemas.ReportSummary:
    plans = [p for n in nodes for p in n.plans]
    goals = [g for p in plans for g in p.goals]
    activities = [a for p in plans for a in p.activities]
    served = {up.id for n in nodes if n.plans for up in _up_from(by_id[n.id], by_id)}
    carried_out = domain.PUBLISHED | {domain.PlanStatus.CLOSED}
    return schemas.ReportSummary(
        plans=len(plans),
        plans_approved=sum(p.status in carried_out for p in plans),
        goals=len(goals),
        goals_attained=sum(g.attained is True for g in goals),
        goals_behind=sum(g.attained is False for g in goals),
        goals_not_measured=sum(g.attained is None for g in goals),
        activities=len(activities),
        activities_cancelled=sum(a.cancelled for a in activities),
        tracks_without_plans=[
            schemas.NodeRef(id=n.id, name=n.name)
            for n in nodes
            if n.level in domain.LINKABLE and n.id not in served
        ],
    )


def csv_rows(report: schemas.StrategyReport) -> str:
    """The report as one table: per node, its initiatives, then per plan its goals and its
    activities."""
    safe = spreadsheet_text  # names are typed by people
    header = ["focus_area", "node", "plan", "status", "row", "name", "detail", "target", "unit"]
    header += ["measured", "attained", "sent", "failed", "registrations", "checked_in"]
    header += ["cancelled"]
    rows: list[list[object]] = []
    for n in report.nodes:
        where = [safe(n.focus_area), safe(n.name)]
        for item in n.initiatives:
            criterion = safe(item.get("success_criterion", ""))
            rows.append([*where, "", "", "initiative", safe(item["initiative"]), criterion])
        for p in n.plans:
            plan = [*where, safe(p.title), p.status.value]
            for g in p.goals:
                goal = [safe(g.metric), safe(g.description), g.target, safe(g.unit)]
                rows.append([*plan, "goal", *goal, g.measured_value, g.attained])
            for a in p.activities:
                counts = [a.deliveries_sent, a.deliveries_failed, a.event_confirmed]
                row: list[object] = [*plan, "activity", safe(a.title), *[""] * 5, *counts]
                rows.append([*row, a.event_checked_in, a.cancelled])
    return csv_text([header] + [row + [""] * (len(header) - len(row)) for row in rows])


def charts(report: schemas.StrategyReport, text: Mapping[str, str]) -> dict[str, str]:
    """The page's charts as inline SVG, labelled in its `text`: each measured goal against
    its target, and the goals' state per focus area (where the year fell behind)."""
    out = {}
    goals = [(n.focus_area, p, g) for n in report.nodes for p in n.plans for g in p.goals]
    measured = [
        (f"{plan.title}: {goal.metric}", goal.measured_value, goal.target)
        for _, plan, goal in goals
        if goal.measured_value is not None and goal.target
    ]
    if measured:
        labels = (text["target"], text["measured"])
        out["goals"] = goals_chart(text["goals_chart_title"], labels, measured)
    if goals:
        states: dict[bool | None, Counter[str]] = {
            True: Counter(),
            False: Counter(),
            None: Counter(),
        }
        for area, _, goal in goals:
            states[goal.attained][area] += 1
        per_area = Counter(area for area, _, _ in goals)  # in the tree's order
        areas, most = list(per_area), max(per_area.values())
        drawn = chart(pygal.HorizontalStackedBar, text["areas_chart_title"], truncate_label=-1)
        drawn.x_labels = areas
        drawn.y_labels = list(range(0, most + 1, -(-most // 10)))  # whole goals, ten at most
        for state, label in ((True, "attained"), (False, "behind"), (None, "unmeasured")):
            drawn.add(text[label], [states[state][area] or None for area in areas])
        out["areas"] = svg(drawn)
    return out
