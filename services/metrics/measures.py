"""What the read models say about a plan: the value of each counted metric (see
domain.COUNTED_METRICS), and the figures per activity and event for its report."""

from __future__ import annotations

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics import questionnaire
from services.metrics.domain import EVENT_COUNTS
from services.metrics.tables import (
    DeliveryFact,
    PlanCount,
    RegistrationFact,
    Survey,
    SurveyResponse,
)


async def value_of(session: AsyncSession, plan_id: str, metric: str, goal_id: str) -> float | None:
    """A counted metric's value for the plan now; None when there is nothing to measure yet
    (satisfaction before any answer)."""
    if metric in EVENT_COUNTS:
        count = await session.scalar(
            select(PlanCount.count).where(
                PlanCount.plan_id == plan_id, PlanCount.event_type == EVENT_COUNTS[metric]
            )
        )
        return count or 0
    if metric == "satisfaction":
        return await satisfaction(session, plan_id, goal_id)
    return await session.scalar(QUERIES[metric].where(_of_plan(metric, plan_id))) or 0


def _of_plan(metric: str, plan_id: str):  # type: ignore[no-untyped-def]
    table = DeliveryFact if metric == "reach" else RegistrationFact
    return table.plan_id == plan_id


QUERIES = {
    "reach": select(func.count(distinct(DeliveryFact.contact_id))).where(
        DeliveryFact.status == "sent"
    ),
    "registrations": select(func.count()).where(RegistrationFact.status == "confirmed"),
    "attendees": select(func.count()).where(RegistrationFact.checked_in_at.is_not(None)),
}


async def satisfaction(session: AsyncSession, plan_id: str, goal_id: str) -> float | None:
    """Per cent satisfied over the answers to the satisfaction questions of the plan's
    surveys that measure this goal (or name no goal), pooled."""
    surveys = select(Survey).where(
        Survey.plan_id == plan_id, (Survey.goal_id == goal_id) | Survey.goal_id.is_(None)
    )
    return await satisfaction_overall(session, surveys)


async def satisfaction_overall(session: AsyncSession, which: Select) -> float | None:
    """Per cent satisfied over these surveys' satisfaction questions."""
    return questionnaire.share(*await satisfied_in(session, which))


async def satisfied_in(session: AsyncSession, which: Select) -> tuple[int, int]:
    """(satisfied, answered) over these surveys' satisfaction questions, pooled. An anonymous
    survey counts only from MIN_BREAKDOWN answers on: a figure that moves with each answer
    would show each answer."""
    happy = answered = 0
    for survey in await session.scalars(which):
        s, a = questionnaire.satisfied(survey.questions, await answers_of(session, survey.id))
        if not (survey.anonymous and a < questionnaire.MIN_BREAKDOWN):
            happy, answered = happy + s, answered + a
    return happy, answered


async def answers_of(session: AsyncSession, survey_id: str) -> list[dict]:
    """A survey's answers (question id → value), one dict per response."""
    return list(
        await session.scalars(
            select(SurveyResponse.answers).where(SurveyResponse.survey_id == survey_id)
        )
    )
