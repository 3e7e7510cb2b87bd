"""The survey use cases: set one up (draft), open and close it, issue personal links, take an
answer through a link (once per link), and read the results.

An event's survey is reached through the link in the survey e-mail, which names the event
and the registration (shared.links.survey_token): the event's open survey answers it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select

from services.metrics import kpis, measures, questionnaire, schemas
from services.metrics.settings import MetricsSettings
from services.metrics.tables import Survey, SurveyInvitee, SurveyLinkUse, SurveyResponse
from shared.auth import Principal
from shared.contracts.metrics import SurveyClosed, SurveyOpened
from shared.db import upsert
from shared.errors import Conflict, NotFound, RuleViolation
from shared.ids import new_id
from shared.links import survey_link, survey_person
from shared.runtime import Runtime
from shared.spreadsheets import csv_text, spreadsheet_text
from shared.uow import UnitOfWork


def answerable(survey: Survey, now: datetime) -> bool:
    """Open, and within its open and close times if it has them (no timer closes it)."""
    return (
        survey.status == "open"
        and (survey.opens_at is None or survey.opens_at <= now)
        and (survey.closes_at is None or now < survey.closes_at)
    )


async def create(uow: UnitOfWork, body: schemas.SurveyCreate, by: Principal) -> Survey:
    if body.goal_id:
        goal = await kpis.known_goal(uow, body.plan_id or "", body.goal_id)
        if goal.counted_metric != "satisfaction":
            raise RuleViolation(
                f"goal {body.goal_id} measures {goal.metric!r}; a survey measures a goal whose "
                "metric is satisfaction",
                errors=[{"field": "goal_id", "message": "the goal's metric is not satisfaction"}],
            )
    survey = Survey(
        id=new_id(),
        **body.model_dump(exclude={"questions"}),
        questions=questionnaire.with_ids(body.model_dump()["questions"]),
        status="draft",
        created_by=by.subject,
        created_at=uow.now(),
        version=1,
    )
    uow.session.add(survey)
    return survey


async def get(uow: UnitOfWork, survey_id: str, *, for_update: bool = False) -> Survey:
    query = select(Survey).where(Survey.id == survey_id)
    survey = await uow.session.scalar(query.with_for_update() if for_update else query)
    if survey is None:
        raise NotFound(f"no survey {survey_id}")
    return survey


async def replace_questions(uow: UnitOfWork, survey_id: str, body: schemas.Questions) -> Survey:
    """A draft's questions may change freely; an open survey's may only be renamed."""
    survey = await get(uow, survey_id, for_update=True)
    questions = questionnaire.with_ids(body.model_dump()["questions"])
    if survey.status == "closed":
        raise Conflict("the survey is closed")
    if survey.status == "open":
        questionnaire.check_only_renamed(survey.questions, questions)
    survey.questions = questions
    survey.version += 1
    return survey


async def open_survey(uow: UnitOfWork, survey_id: str) -> Survey:
    survey = await get(uow, survey_id, for_update=True)
    if survey.status != "draft":
        raise Conflict(f"the survey is {survey.status}; only a draft is opened")
    if survey.event_id:
        other = await uow.session.scalar(
            select(Survey.id).where(Survey.event_id == survey.event_id, Survey.status == "open")
        )
        if other:
            raise Conflict(f"survey {other} of this event is open: an event has one at a time")
    survey.status = "open"
    survey.version += 1
    _announce_opened(uow, survey)
    return survey


async def announce_open(runtime: Runtime[MetricsSettings]) -> None:
    """At start, say again which of the events' surveys are open: a subscriber that missed
    the first word (started after it, or restored from a backup) learns it; for one that
    did not, the second changes nothing."""
    async with runtime.uow() as uow:
        opened = await uow.session.scalars(
            select(Survey).where(Survey.status == "open", Survey.event_id.is_not(None))
        )
        for survey in opened:
            _announce_opened(uow, survey)
        await uow.commit()


def _announce_opened(uow: UnitOfWork, survey: Survey) -> None:
    uow.publish(
        SurveyOpened(**_about(survey), opens_at=survey.opens_at, closes_at=survey.closes_at),
        subject=survey.event_id or survey.id,  # an event's surveys in order
    )


async def close(uow: UnitOfWork, survey_id: str) -> Survey:
    survey = await get(uow, survey_id, for_update=True)
    if survey.status != "open":
        raise Conflict(f"the survey is {survey.status}; only an open survey is closed")
    _close(uow, survey)
    return survey


def _close(uow: UnitOfWork, survey: Survey) -> None:
    survey.status = "closed"
    survey.version += 1
    uow.publish(SurveyClosed(**_about(survey)), subject=survey.event_id or survey.id)


async def close_when_due(runtime: Runtime[MetricsSettings]) -> None:
    """The worker that closes each open survey whose close time has come (within
    `kpi_interval_seconds`), as if closed by hand: its status says closed, subscribers hear
    survey.closed.v1, and the event may have another survey opened."""
    while True:
        async with runtime.uow() as uow:
            due = await uow.session.scalars(
                select(Survey)
                .where(Survey.status == "open", Survey.closes_at <= uow.now())
                .with_for_update(skip_locked=True)  # another replica's round: not twice
            )
            for survey in due:
                _close(uow, survey)
            await uow.commit()
        await asyncio.sleep(runtime.settings.kpi_interval_seconds)


def _about(survey: Survey) -> dict[str, str | None]:
    return {
        "survey_id": survey.id,
        "event_id": survey.event_id,
        "activity_id": survey.activity_id,
        "plan_id": survey.plan_id,
    }


async def issue_links(
    uow: UnitOfWork, survey: Survey, references: Sequence[str], key: str, base_url: str
) -> list[schemas.SurveyLink]:
    """A personal link per reference (the same link again for the same reference)."""
    if survey.status == "closed":
        raise Conflict("the survey is closed")
    unique = list(dict.fromkeys(references))
    await uow.session.execute(
        upsert(uow.session, SurveyInvitee)
        .values(
            [{"target": survey.id, "person_hash": survey_person(key, survey.id, r)} for r in unique]
        )
        .on_conflict_do_nothing()
    )
    return [
        schemas.SurveyLink(reference=r, link=survey_link(base_url, key, survey.id, r))
        for r in unique
    ]


async def for_link(uow: UnitOfWork, target: str) -> Survey:
    """The survey a link names: the survey itself, or its event's survey (the open one, else
    the last one opened)."""
    survey = await uow.session.get(Survey, target)
    if survey is None:
        survey = await uow.session.scalar(
            select(Survey)
            .where(Survey.event_id == target, Survey.status != "draft")
            .order_by((Survey.status == "open").desc(), Survey.created_at.desc())
            .limit(1)
        )
    if survey is None or survey.status == "draft":
        raise NotFound("no survey for this link")
    return survey


async def used(uow: UnitOfWork, survey: Survey, who: str) -> bool:
    row = await uow.session.get(SurveyLinkUse, (survey.id, who))
    return row is not None


async def answer(
    uow: UnitOfWork, survey: Survey, who: str, answers: dict[str, Any], language: str
) -> None:
    """Keep one answer for the link `who` (its hash); the link is used up with it. A second
    answer through the same link is a Conflict, also when both arrive at once."""
    if not answerable(survey, uow.now()):
        raise Conflict("the survey is not open for answers")
    claimed = await uow.session.execute(
        upsert(uow.session, SurveyLinkUse)
        .values(survey_id=survey.id, person_hash=who)
        .on_conflict_do_nothing()
        .returning(SurveyLinkUse.person_hash)
    )
    if claimed.first() is None:
        raise Conflict("this link was used: the survey is answered")
    uow.session.add(
        SurveyResponse(
            id=new_id(),
            survey_id=survey.id,
            respondent=None if survey.anonymous else who,
            submitted_on=uow.now().date(),
            language=language,
            answers=answers,
        )
    )
    if survey.plan_id:
        kpis.mark_due(uow, survey.plan_id)


async def responses(uow: UnitOfWork, survey: Survey) -> list[SurveyResponse]:
    """In the order they came in; an anonymous survey's by day and content instead: the order
    of arrival, beside anything that saw who answered when, would say who gave which answer."""
    rows = list(
        await uow.session.scalars(
            select(SurveyResponse)
            .where(SurveyResponse.survey_id == survey.id)
            .order_by(SurveyResponse.position)
        )
    )
    if survey.anonymous:
        rows.sort(
            key=lambda r: (
                r.submitted_on,
                r.language,
                orjson.dumps(r.answers, option=orjson.OPT_SORT_KEYS),
            )
        )
    return rows


async def results(uow: UnitOfWork, survey: Survey) -> schemas.SurveyResults:
    answers = await measures.answers_of(uow.session, survey.id)
    targets = [survey.id, *([survey.event_id] if survey.event_id else [])]
    invited = await uow.session.scalar(
        select(func.count()).select_from(SurveyInvitee).where(SurveyInvitee.target.in_(targets))
    )
    happy, answered = questionnaire.satisfied(survey.questions, answers)
    hide_share = survey.anonymous and answered < questionnaire.MIN_BREAKDOWN
    return schemas.SurveyResults(
        survey_id=survey.id,
        status=survey.status,
        invited=invited or 0,
        responses=len(answers),
        response_rate=questionnaire.share(len(answers), invited or 0),
        satisfied_share=None if hide_share else questionnaire.share(happy, answered),
        questions=questionnaire.results(survey.questions, answers, survey.anonymous),
    )


async def export_csv(uow: UnitOfWork, survey: Survey) -> str:
    """One row per answer, one column per question (choices by their labels). An anonymous
    survey's answers are exported only from MIN_BREAKDOWN answers on, without who."""
    rows = await responses(uow, survey)
    if survey.anonymous and len(rows) < questionnaire.MIN_BREAKDOWN:
        raise Conflict(
            f"an anonymous survey is exported from {questionnaire.MIN_BREAKDOWN} answers on "
            f"(it has {len(rows)}): fewer could point to who answered"
        )
    ids = [q["id"] for q in survey.questions]
    head = ["submitted_on", "language"] + ([] if survey.anonymous else ["respondent"])
    table: list[Sequence[object]] = [head + [spreadsheet_text(q["text"]) for q in survey.questions]]
    for row in rows:
        who = [] if survey.anonymous else [row.respondent]
        cells = [
            questionnaire.as_text(q, row.answers.get(i))
            for q, i in zip(survey.questions, ids, strict=True)
        ]
        table.append([row.submitted_on.isoformat(), row.language, *who, *cells])
    return csv_text(table)
