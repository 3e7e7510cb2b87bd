"""The metrics API's request and response models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from services.metrics.questionnaire import CHOICES, SCALES, QuestionKind
from shared.contracts.metrics import KpiSource
from shared.schemas import ApiInput, ApiOutput, SingleLine
from shared.time import PlanDate, PlanDatetime

Key = Field(
    None, pattern=r"^[A-Za-z0-9_-]{1,36}$", description="Kept when given: renaming keeps it."
)


class PlanCounts(BaseModel):
    plan_id: str
    counts: dict[str, int]
    total: int


class MeasurementCreate(ApiInput):
    value: float = Field(
        strict=True, allow_inf_nan=False, examples=[74], description="In the goal's unit."
    )
    measured_on: PlanDate | None = Field(
        None,
        examples=["2010-06-01"],
        description="The day it was measured (default: today, UTC); not in the future.",
    )
    note: str | None = Field(None, max_length=2000, examples=["User survey 2010: 74 % satisfied"])


class MeasurementPublic(ApiOutput):
    """A measured value of a goal; `id` is the id of the kpi.measured.v1 event it was
    published as."""

    id: str
    plan_id: str
    goal_id: str
    metric: str
    value: float
    target: float
    unit: str
    source: KpiSource
    measured_at: datetime
    note: str | None
    recorded_by: str | None = Field(description="Who reported it; null for counted values.")
    recorded_at: datetime


class Kpi(BaseModel):
    goal_id: str
    metric: str
    counted: bool = Field(description="The metrics service counts it from events.")
    target: float
    unit: str
    deadline: date | None
    value: float | None = Field(description="The latest measured value (null: none yet).")
    measured_at: datetime | None
    source: KpiSource | None
    attained: bool | None = Field(description="The value reached the target (null: none yet).")


class PlanKpis(BaseModel):
    plan_id: str
    kpis: list[Kpi]


class OptionIn(ApiInput):
    id: str | None = Key
    label: SingleLine = Field(min_length=1, max_length=300)
    label_en: SingleLine | None = Field(None, max_length=300)


class QuestionIn(ApiInput):
    id: str | None = Key
    kind: QuestionKind
    text: str = Field(min_length=1, max_length=1000, examples=["Hvor tilfreds var du med dagen?"])
    text_en: str | None = Field(None, max_length=1000, examples=["How satisfied were you?"])
    section: SingleLine | None = Field(None, max_length=200, description="A heading above it.")
    required: bool = False
    satisfaction: bool = Field(
        False,
        description="This rating (4–5 of 5) or NPS question (9–10) measures satisfaction: "
        "the share of satisfied answers is the survey's satisfaction, and its goal's value.",
    )
    options: list[OptionIn] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind in CHOICES and len(self.options) < 2:
            raise ValueError("a choice question needs at least two options")
        if self.kind not in CHOICES and self.options:
            raise ValueError(f"a {self.kind} question has no options")
        if self.satisfaction and self.kind not in SCALES:
            raise ValueError("only a rating or NPS question can measure satisfaction")
        ids = [o.id for o in self.options if o.id]
        if len(ids) != len(set(ids)):
            raise ValueError("option ids must differ")
        return self


class Questions(ApiInput):
    questions: list[QuestionIn] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_satisfaction(self) -> Self:
        if sum(q.satisfaction for q in self.questions) > 1:
            raise ValueError("at most one question measures satisfaction")
        ids = [q.id for q in self.questions if q.id]
        if len(ids) != len(set(ids)):
            raise ValueError("question ids must differ")
        return self


class SurveyCreate(Questions):
    title: SingleLine = Field(min_length=1, max_length=300, examples=["Evaluering af konferencen"])
    title_en: SingleLine | None = Field(None, max_length=300)
    intro: str | None = Field(None, max_length=2000)
    intro_en: str | None = Field(None, max_length=2000)
    event_id: str | None = Field(
        None,
        max_length=36,
        description="The event it evaluates: its checked-in attendees get a personal link the "
        "day after (survey.requested.v1).",
    )
    activity_id: str | None = Field(None, max_length=36)
    plan_id: str | None = Field(None, max_length=36)
    goal_id: str | None = Field(
        None, max_length=36, description="A goal of `plan_id` measured by its satisfaction."
    )
    anonymous: bool = Field(
        True, description="Answers are kept apart from who gave them; small groups are hidden."
    )
    opens_at: PlanDatetime | None = None
    closes_at: PlanDatetime | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.goal_id and not self.plan_id:
            raise ValueError("goal_id needs the plan_id it belongs to")
        if self.goal_id and not any(q.satisfaction for q in self.questions):
            raise ValueError("a survey measuring a goal needs a satisfaction question")
        if self.opens_at and self.closes_at and self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        return self


class SurveyPublic(ApiOutput):
    id: str
    title: str
    title_en: str | None
    intro: str | None
    intro_en: str | None
    plan_id: str | None
    event_id: str | None
    activity_id: str | None
    goal_id: str | None
    anonymous: bool
    status: Literal["draft", "open", "closed"]
    opens_at: datetime | None
    closes_at: datetime | None
    questions: list[dict[str, Any]]
    created_by: str
    created_at: datetime
    version: int


class LinksCreate(ApiInput):
    references: list[SingleLine] = Field(
        min_length=1,
        max_length=10_000,
        description="Whom each link is for, in your own terms (a contact id, say): one link, "
        "one answer, per reference.",
    )


class SurveyLink(BaseModel):
    reference: str
    link: str


class SurveyResults(BaseModel):
    survey_id: str
    status: str
    invited: int = Field(description="Attendees asked to answer, and personal links issued.")
    responses: int
    response_rate: float | None = Field(description="Per cent of those invited who answered.")
    satisfied_share: float | None = Field(description="Per cent satisfied (null: no question).")
    questions: list[dict[str, Any]]


class ReportGoal(BaseModel):
    goal_id: str
    metric: str
    target: float
    unit: str
    deadline: date | None
    value: float | None
    measured_at: datetime | None
    attained: bool | None


class ReportActivity(BaseModel):
    activity_id: str
    title: str
    kind: str
    channel: str | None
    starts_at: datetime
    cancelled: bool
    sent: int
    failed: int
    bounced: int = Field(description="Sent, then came back for good (not in `sent`).")
    reach: int = Field(description="Distinct contacts who got it.")


class ReportAudience(BaseModel):
    """The plan's activities for one audience, together."""

    audience_id: str | None = Field(description="None: activities counted before audiences were.")
    name: str | None
    activities: int
    sent: int
    failed: int
    bounced: int
    reach: int = Field(description="Distinct contacts of the audience reached by any of them.")
    registrations: int = Field(description="Confirmed now, at the events set up for them.")
    checked_in: int


class ReportEvent(BaseModel):
    event_id: str
    title: str
    format: str
    starts_at: datetime
    status: str
    capacity: int
    registrations: int = Field(description="Confirmed registrations now.")
    waitlisted: int
    cancelled: int
    checked_in: int
    no_show_rate: float | None = Field(
        description="Per cent of confirmed not checked in, once held."
    )
    satisfaction: float | None = Field(description="Per cent satisfied in its survey.")
    survey_answers: int
    survey_response_rate: float | None = Field(
        None, description="Per cent of those asked (attendees, links issued) who answered."
    )


class DayCount(BaseModel):
    day: str
    count: int


class PlanReport(BaseModel):
    plan_id: str
    title: str | None
    generated_at: datetime
    period_start: date | None = Field(
        None, description="The first day covered; none: from the start."
    )
    period_end: date | None = Field(None, description="The last day covered; none: until now.")
    goals: list[ReportGoal]
    activities: list[ReportActivity]
    audiences: list[ReportAudience] = Field(description="The activities by audience, together.")
    events: list[ReportEvent]
    sent_by_day: list[DayCount]
    reached_by_day: list[DayCount] = Field(
        description="Contacts reached for the first time each day (UTC): their running sum is "
        "the reach over time."
    )
    satisfaction_scores: dict[int, int] = Field(description="Answers per score, 1–5.")
    page: str | None = Field(
        None, description="A link to the report as a page, for people without a token (30 days)."
    )
