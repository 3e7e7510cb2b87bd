"""Prometheus gauges mirrored from the metrics database every few seconds. Bounded labels
only (state, status, format): per-plan figures belong to the API and the reports, never to
a label."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.metrics import questionnaire
from services.metrics.domain import GOAL_STATES, goal_state
from services.metrics.kpis import goals_with_latest_values
from services.metrics.measures import QUERIES, satisfied_in
from services.metrics.settings import MetricsSettings
from services.metrics.tables import (
    EventFact,
    RegistrationFact,
    Survey,
    SurveyResponse,
)
from shared.runtime import Runtime

KPI_GOALS = Gauge(
    "budskab_kpi_goals",
    "Goals of approved plans by state: latest value attained, below target, or unmeasured.",
    ["state"],
)
REGISTRATIONS = Gauge(
    "budskab_registrations",
    "Registrations by their latest status (confirmed, waitlisted, offered, expired, cancelled).",
    ["status"],
)
ATTENDEES = Gauge("budskab_attendees_checked_in", "Attendees checked in at events, in all.")
EVENTS = Gauge("budskab_events", "Events by format and status.", ["format", "status"])
SURVEY_RESPONSES = Gauge("budskab_survey_responses", "Survey answers received, in all.")
SURVEY_SATISFIED = Gauge(
    "budskab_survey_satisfied_ratio",
    "Share (0–1) of satisfied answers over every survey's satisfaction question.",
)
REACH = Gauge(
    "budskab_reach_contacts",
    "Contacts reached: each contact an activity's message was delivered to (sent, not bounced)"
    " once, in all; recounted every METRICS_REACH_REFRESH_SECONDS.",
)
REGISTRATION_STATUSES = ("confirmed", "waitlisted", "offered", "expired", "cancelled")


class SatisfiedShare:
    """The satisfied share over every survey's satisfaction question, recounting at each
    refresh only the surveys that got answers or changed since the last: an answer is never
    changed once stored, so the others' counts stand (a refresh no longer reads every answer
    ever given)."""

    def __init__(self) -> None:
        # survey id → ((version, answers), (satisfied, answered))
        self._counted: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}

    async def refresh(self, session: AsyncSession) -> float | None:
        answers = dict(
            (
                await session.execute(
                    select(SurveyResponse.survey_id, func.count()).group_by(
                        SurveyResponse.survey_id
                    )
                )
            ).all()
        )
        versions = dict((await session.execute(select(Survey.id, Survey.version))).all())
        for survey_id, version in versions.items():
            seen = (version, answers.get(survey_id, 0))
            if survey_id not in self._counted or self._counted[survey_id][0] != seen:
                one = select(Survey).where(Survey.id == survey_id)
                self._counted[survey_id] = (seen, await satisfied_in(session, one))
        for gone in self._counted.keys() - versions.keys():
            del self._counted[gone]
        return questionnaire.share(
            sum(s for _, (s, _) in self._counted.values()),
            sum(a for _, (_, a) in self._counted.values()),
        )


async def refresh_gauges(runtime: Runtime[MetricsSettings]) -> None:
    """Mirror the goals' states and the read models' totals into the gauges."""
    satisfied_share = SatisfiedShare()
    reach_every = runtime.settings.reach_refresh_seconds  # a million deliveries: a moment
    reach_counted_at = -reach_every
    while True:
        if (now := time.monotonic()) - reach_counted_at >= reach_every:
            async with runtime.sessions() as session:
                reached = await session.scalar(QUERIES["reach"])  # every plan's
            REACH.set(reached or 0)
            reach_counted_at = now
        async with runtime.sessions() as session:
            states = Counter(
                goal_state(None if measurement is None else measurement.value, goal.target)
                for goal, measurement in await session.execute(goals_with_latest_values())
            )
            registrations = dict(
                (
                    await session.execute(
                        select(RegistrationFact.status, func.count()).group_by(
                            RegistrationFact.status
                        )
                    )
                ).all()
            )
            attendees = await session.scalar(
                select(func.count()).where(RegistrationFact.checked_in_at.is_not(None))
            )
            events = (
                await session.execute(
                    select(EventFact.format, EventFact.status, func.count()).group_by(
                        EventFact.format, EventFact.status
                    )
                )
            ).all()
            responses = await session.scalar(select(func.count()).select_from(SurveyResponse))
            satisfied = await satisfied_share.refresh(session)
        for state in GOAL_STATES:
            KPI_GOALS.labels(state).set(states[state])
        for status in REGISTRATION_STATUSES:
            REGISTRATIONS.labels(status).set(registrations.get(status, 0))
        ATTENDEES.set(attendees or 0)
        EVENTS.clear()  # an event that changed status leaves its old series
        for event_format, status, count in events:
            EVENTS.labels(event_format, status).set(count)
        SURVEY_RESPONSES.set(responses or 0)
        SURVEY_SATISFIED.set((satisfied or 0) / 100)
        await asyncio.sleep(runtime.settings.gauge_refresh_seconds)
