"""A plan's report: each goal against its target, each activity's reach, each event's
registrations, attendance and satisfaction, reach over time — as JSON, CSV rows, and charts
(SVG drawn on the server with pygal) for the page people print or save as PDF."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pygal
from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import QueryableAttribute

from services.metrics import kpis, measures, questionnaire, schemas
from services.metrics.settings import MetricsSettings
from services.metrics.tables import (
    ActivityFact,
    DeliveryFact,
    EventFact,
    KpiGoal,
    PlanFact,
    RegistrationFact,
    Survey,
    SurveyInvitee,
    SurveyResponse,
)
from shared.charts import chart, goals_chart, svg
from shared.contracts.metrics import attained
from shared.db import on_postgresql
from shared.errors import NotFound, RuleViolation
from shared.links import ExpiringSigner
from shared.spreadsheets import csv_text, spreadsheet_text
from shared.time import local_midnight
from shared.uow import UnitOfWork

REPORT_LINK_DAYS = 30


def _links(settings: MetricsSettings) -> ExpiringSigner:
    return ExpiringSigner(settings.link_key, "report", days=REPORT_LINK_DAYS)


@dataclass(frozen=True)
class Period:
    """The days a report covers, both included, in Danish time; an open end covers
    everything before or after."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise RuleViolation(
                "period_end is before period_start",
                errors=[{"field": "period_end", "message": "must be on or after period_start"}],
            )

    @property
    def bounded(self) -> bool:
        return self.start is not None or self.end is not None

    @property
    def ends_before(self) -> datetime | None:
        """The first moment after the period."""
        return None if self.end is None else local_midnight(self.end + timedelta(days=1))

    def holds(self, when: QueryableAttribute[datetime]) -> list[ColumnElement[bool]]:
        """The conditions for `when` to fall in the period."""
        conditions = []
        if self.start is not None:
            conditions.append(when >= local_midnight(self.start))
        if self.ends_before is not None:
            conditions.append(when < self.ends_before)
        return conditions


def report_link(settings: MetricsSettings, plan_id: str, period: Period = Period()) -> str:
    """A link to the plan's report page for people without an API token (management, say);
    it works for REPORT_LINK_DAYS."""
    token = _links(settings).token(plan_id)
    return f"{settings.public_url.rstrip('/')}/reports/plans/{token}{period_query(period)}"


def period_query(period: Period, first: str = "?") -> str:
    """The period as a link's query (`first` starts it), or nothing for all of it."""
    given = {"period_start": period.start, "period_end": period.end}
    parts = [f"{name}={day.isoformat()}" for name, day in given.items() if day is not None]
    return first + "&".join(parts) if parts else ""


def plan_of_link(settings: MetricsSettings, token: str) -> str:
    return _links(settings).value(token)


async def plan_report(
    uow: UnitOfWork, plan_id: str, period: Period = Period()
) -> schemas.PlanReport:
    """The plan measured over `period` (all of it by default): goals as last measured by its
    end; the activities, events and messages in it; the satisfaction of its events' and
    activities' surveys."""
    session = uow.session
    plan = await session.get(PlanFact, plan_id)
    goals = [
        schemas.ReportGoal(
            goal_id=goal.goal_id,
            metric=goal.metric,
            target=goal.target,
            unit=goal.unit,
            deadline=goal.deadline,
            value=None if m is None else m.value,
            measured_at=None if m is None else m.measured_at,
            attained=attained(None if m is None else m.value, goal.target),
        )
        for goal, m in await session.execute(
            kpis.goals_with_latest_values(measured_before=period.ends_before).where(
                KpiGoal.plan_id == plan_id
            )
        )
    ]
    if plan is None and not goals:
        raise NotFound(f"no plan {plan_id} is known to the metrics service (approved plans are)")
    sent = DeliveryFact.status == "sent"
    deliveries = dict(
        (row.activity_id, row)
        for row in await session.execute(
            select(DeliveryFact.activity_id, *_delivered())
            .where(DeliveryFact.plan_id == plan_id, *period.holds(DeliveryFact.at))
            .group_by(DeliveryFact.activity_id)
        )
    )
    activities = [
        schemas.ReportActivity(
            activity_id=a.activity_id,
            title=a.title,
            kind=a.kind,
            channel=a.channel,
            starts_at=a.starts_at,
            cancelled=a.cancelled,
            sent=getattr(deliveries.get(a.activity_id), "sent", 0),
            failed=getattr(deliveries.get(a.activity_id), "failed", 0),
            bounced=getattr(deliveries.get(a.activity_id), "bounced", 0),
            reach=getattr(deliveries.get(a.activity_id), "reach", 0),
        )
        for a in await session.scalars(
            select(ActivityFact)
            .where(ActivityFact.plan_id == plan_id, *period.holds(ActivityFact.starts_at))
            .order_by(ActivityFact.starts_at, ActivityFact.activity_id)
        )
    ]
    audiences = await _audiences(uow, plan_id, period)
    events = [
        await _event(uow, event)
        for event in await session.scalars(
            select(EventFact)
            .where(EventFact.plan_id == plan_id, *period.holds(EventFact.starts_at))
            .order_by(EventFact.starts_at)
        )
    ]
    postgres = on_postgresql(session)

    def day(at: ColumnElement[datetime] | QueryableAttribute[datetime]) -> ColumnElement[str]:
        # the day in UTC, as SQLite keeps the time (PostgreSQL's session may be in another zone)
        if postgres:
            return func.to_char(func.timezone("UTC", at), "YYYY-MM-DD")
        return func.substr(at, 1, 10)

    sent_in_period = [DeliveryFact.plan_id == plan_id, sent, *period.holds(DeliveryFact.at)]
    by_day = await session.execute(
        select(day(DeliveryFact.at).label("day"), func.count())
        .where(*sent_in_period)
        .group_by("day")
        .order_by("day")
    )
    first_reached = (
        select(func.min(DeliveryFact.at).label("at"))
        .where(*sent_in_period)
        .group_by(DeliveryFact.contact_id)
        .subquery()
    )
    newly_reached = await session.execute(
        select(day(first_reached.c.at).label("day"), func.count()).group_by("day").order_by("day")
    )
    surveys = select(Survey).where(Survey.plan_id == plan_id)
    if period.bounded:  # those of the events and activities in the period
        surveys = surveys.where(
            Survey.event_id.in_([e.event_id for e in events])
            | Survey.activity_id.in_([a.activity_id for a in activities])
        )
    scores: Counter[int] = Counter()
    for survey in await session.scalars(surveys):
        scores.update(await _satisfaction_scores(uow, survey))
    return schemas.PlanReport(
        plan_id=plan_id,
        title=plan.title if plan else None,
        generated_at=uow.now(),
        period_start=period.start,
        period_end=period.end,
        goals=goals,
        activities=activities,
        audiences=audiences,
        events=events,
        sent_by_day=[schemas.DayCount(day=str(day), count=count) for day, count in by_day],
        reached_by_day=[
            schemas.DayCount(day=str(day), count=count) for day, count in newly_reached
        ],
        satisfaction_scores=dict(sorted(scores.items())),
    )


def _delivered() -> tuple[ColumnElement[int], ...]:
    """Deliveries sent, failed and bounced (sent, then came back), and the distinct contacts
    they reached (not by a bounced one)."""
    sent = DeliveryFact.status == "sent"
    return (
        func.count().filter(sent).label("sent"),
        func.count().filter(DeliveryFact.status == "failed").label("failed"),
        func.count().filter(DeliveryFact.status == "bounced").label("bounced"),
        func.count(distinct(case((sent, DeliveryFact.contact_id)))).label("reach"),
    )


async def _audiences(uow: UnitOfWork, plan_id: str, period: Period) -> list[schemas.ReportAudience]:
    """The plan's activities in the period by audience: what they sent and whom they reached
    (each contact once, whichever activity), and the registrations and check-ins at the
    events set up for them."""
    of_plan = [ActivityFact.plan_id == plan_id, *period.holds(ActivityFact.starts_at)]
    audience = ActivityFact.audience_id
    delivered = {
        row.audience_id: row
        for row in await uow.session.execute(
            select(audience, *_delivered())
            .join(ActivityFact, ActivityFact.activity_id == DeliveryFact.activity_id)
            .where(DeliveryFact.plan_id == plan_id, *of_plan, *period.holds(DeliveryFact.at))
            .group_by(audience)
        )
    }
    came = {
        row.audience_id: row
        for row in await uow.session.execute(
            select(
                audience,
                func.count().filter(RegistrationFact.status == "confirmed").label("confirmed"),
                func.count().filter(RegistrationFact.checked_in_at.is_not(None)).label("came"),
            )
            .select_from(RegistrationFact)
            .join(EventFact, EventFact.event_id == RegistrationFact.event_id)
            .join(ActivityFact, ActivityFact.activity_id == EventFact.activity_id)
            .where(*of_plan)
            .group_by(audience)
        )
    }
    return [
        schemas.ReportAudience(
            audience_id=audience_id,
            name=name,
            activities=activities,
            sent=getattr(delivered.get(audience_id), "sent", 0),
            failed=getattr(delivered.get(audience_id), "failed", 0),
            bounced=getattr(delivered.get(audience_id), "bounced", 0),
            reach=getattr(delivered.get(audience_id), "reach", 0),
            registrations=getattr(came.get(audience_id), "confirmed", 0),
            checked_in=getattr(came.get(audience_id), "came", 0),
        )
        for audience_id, name, activities in await uow.session.execute(
            select(audience, func.max(ActivityFact.audience_name), func.count())
            .where(*of_plan)
            .group_by(audience)
            .order_by(func.max(ActivityFact.audience_name).nulls_last())
        )
    ]


async def _event(uow: UnitOfWork, event: EventFact) -> schemas.ReportEvent:
    counts = dict(
        (
            await uow.session.execute(
                select(RegistrationFact.status, func.count())
                .where(RegistrationFact.event_id == event.event_id)
                .group_by(RegistrationFact.status)
            )
        ).all()
    )
    checked_in = await uow.session.scalar(
        select(func.count()).where(
            RegistrationFact.event_id == event.event_id, RegistrationFact.checked_in_at.is_not(None)
        )
    )
    happy, answered = await measures.satisfied_in(
        uow.session, select(Survey).where(Survey.event_id == event.event_id)
    )
    surveys = list(
        await uow.session.scalars(select(Survey.id).where(Survey.event_id == event.event_id))
    )
    invited = await uow.session.scalar(  # the attendees asked, and links issued
        select(func.count())
        .select_from(SurveyInvitee)
        .where(SurveyInvitee.target.in_([event.event_id, *surveys]))
    )
    responses = await uow.session.scalar(
        select(func.count()).where(SurveyResponse.survey_id.in_(surveys))
    )
    confirmed = counts.get("confirmed", 0)
    held = event.status == "completed"
    return schemas.ReportEvent(
        event_id=event.event_id,
        title=event.title,
        format=event.format,
        starts_at=event.starts_at,
        status=event.status,
        capacity=event.capacity,
        registrations=confirmed,
        waitlisted=counts.get("waitlisted", 0) + counts.get("offered", 0),
        cancelled=counts.get("cancelled", 0),
        checked_in=checked_in or 0,
        no_show_rate=questionnaire.share(max(0, confirmed - (checked_in or 0)), confirmed)
        if held
        else None,
        satisfaction=questionnaire.share(happy, answered),
        survey_answers=answered,
        survey_response_rate=questionnaire.share(responses or 0, invited or 0),
    )


async def _satisfaction_scores(uow: UnitOfWork, survey: Survey) -> Counter[int]:
    question = next((q for q in survey.questions if q.get("satisfaction")), None)
    if question is None or question["kind"] != "rating":
        return Counter()
    answers = await measures.answers_of(uow.session, survey.id)
    scores = [a[question["id"]] for a in answers if question["id"] in a]
    if survey.anonymous and len(scores) < questionnaire.MIN_BREAKDOWN:
        return Counter()
    return Counter(scores)


def csv_rows(report: schemas.PlanReport) -> str:
    """The report as one table: a row per goal, then per activity, per audience, per event."""
    safe = spreadsheet_text  # titles are typed by people
    header = ["section", "id", "name", "target", "value", "attained", "sent", "reach"]
    header += ["registrations", "checked_in", "no_show_rate", "satisfaction"]
    rows: list[Sequence[object]] = [header]
    for g in report.goals:
        rows.append(["goal", g.goal_id, safe(g.metric), g.target, g.value, g.attained] + [""] * 6)
    for a in report.activities:
        rows.append(
            ["activity", a.activity_id, safe(a.title), "", "", "", a.sent, a.reach] + [""] * 4
        )
    for u in report.audiences:
        rows.append(
            ["audience", u.audience_id or "", safe(u.name or "")]
            + ["", "", "", u.sent, u.reach, u.registrations, u.checked_in, "", ""]
        )
    for e in report.events:
        rows.append(
            ["event", e.event_id, safe(e.title)]
            + [""] * 5
            + [e.registrations, e.checked_in, e.no_show_rate, e.satisfaction]
        )
    return csv_text(rows)


def charts(report: schemas.PlanReport, text: Mapping[str, str]) -> dict[str, str]:
    """The report's charts as inline SVG, by name, labelled in the page's `text`; a chart
    with nothing to show is left out."""
    out = {}
    goals = report.goals
    measured = [(g.metric, g.value, g.target) for g in goals if g.value is not None and g.target]
    if measured:
        labels = (text["target"], text["measured"])
        out["goals"] = goals_chart(text["goals_chart_title"], labels, measured)
    if report.sent_by_day:
        drawn = chart(pygal.Bar, text["sent_per_day"])
        drawn.x_labels = [d.day for d in report.sent_by_day]
        drawn.add(text["sent"], [d.count for d in report.sent_by_day])
        out["reach"] = svg(drawn)
    if report.reached_by_day:
        drawn = chart(pygal.Line, text["reached_so_far"])
        drawn.x_labels = [d.day for d in report.reached_by_day]
        drawn.add(text["reach"], list(itertools.accumulate(d.count for d in report.reached_by_day)))
        out["reached"] = svg(drawn)
    if report.satisfaction_scores:
        drawn = chart(pygal.Bar, text["satisfaction_chart_title"])
        drawn.x_labels = [str(score) for score in range(1, 6)]
        drawn.add(text["answers"], [report.satisfaction_scores.get(s, 0) for s in range(1, 6)])
        out["satisfaction"] = svg(drawn)
    return out
