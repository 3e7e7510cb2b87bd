"""Planning rules, in plain Python: what makes a plan approvable, its status workflow, and
how readable a message to citizens is."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contracts.vocabulary import ActivityKind
from shared.errors import Conflict, RuleViolation


class PlanStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    ACTIVE = "active"
    CLOSED = "closed"


EDITABLE = {PlanStatus.DRAFT, PlanStatus.IN_REVIEW}
PUBLISHED = {PlanStatus.APPROVED, PlanStatus.ACTIVE}  # its activities fall due


class GatekeeperRole(StrEnum):
    """A gatekeeper relays to other audiences — as an ambassador for the message, or a blocker."""

    NONE = "none"
    AMBASSADOR = "ambassador"
    BLOCKER = "blocker"


class AudienceKind(StrEnum):
    """The four external audiences of the ministry's strategy (DOMAIN.md, case B), plus ours."""

    CITIZENS = "citizens"  # understandable and usable: plain language
    STAFF = "staff"  # professional and usable
    ORGANISATIONS = "organisations"  # political and professional
    PRESS = "press"  # fast, facts, knowledge
    POLITICIANS = "politicians"
    OTHER = "other"


@dataclass(frozen=True)
class ActivityDraft:
    """What approval needs to know of an activity."""

    title: str
    kind: ActivityKind
    audience_id: str | None
    message_id: str | None
    channel_id: str | None
    has_event_details: bool


def submit(status: PlanStatus) -> PlanStatus:
    """A draft goes to review (management's turn); nothing else can be submitted."""
    if status is not PlanStatus.DRAFT:
        raise Conflict(f"only a draft can be submitted for review; the plan is {status}")
    return PlanStatus.IN_REVIEW


def close(status: PlanStatus) -> PlanStatus:
    """An approved (or active) plan is closed when its work is done; then it is history."""
    if status not in PUBLISHED:
        raise Conflict(f"only an approved or active plan can be closed; the plan is {status}")
    return PlanStatus.CLOSED


def ensure_editable(status: PlanStatus) -> None:
    if status not in EDITABLE:
        raise Conflict(
            f"the plan is {status}; an approved plan changes only through a recorded deviation"
        )


def check_approvable(status: PlanStatus, goals: int, activities: list[ActivityDraft]) -> None:
    """Goal, audience, message and channel for everything: list every missing piece at once."""
    ensure_editable(status)
    problems: list[dict[str, str]] = []
    if goals == 0:
        problems.append({"field": "goals", "message": "a plan needs at least one measurable goal"})
    if not activities:
        problems.append({"field": "activities", "message": "a plan needs at least one activity"})
    for i, activity in enumerate(activities):
        where = f"activities[{i}] ({activity.title})"
        for field in ("audience_id", "message_id", "channel_id"):
            if getattr(activity, field) is None:
                problems.append(
                    {"field": f"{where}.{field}", "message": f"{field[:-3]} is missing"}
                )
        if activity.kind is ActivityKind.EVENT and not activity.has_event_details:
            problems.append(
                {"field": f"{where}.event", "message": "an event needs a format and a capacity"}
            )
    if problems:
        raise RuleViolation(
            f"the plan cannot be approved: {len(problems)} problem(s)", errors=problems
        )


def check_message_fits_audience(message_audience_id: str, activity_audience_id: str | None) -> None:
    """A message is written for one audience; an activity may only carry it to that audience."""
    if activity_audience_id is not None and message_audience_id != activity_audience_id:
        raise RuleViolation(
            "the message is written for another audience than the activity's",
            errors=[{"field": "message_id", "message": "written for another audience"}],
        )


_WORD = re.compile(r"[^\W\d_]+(?:[-'][^\W\d_]+)*")  # letters only: numbers are not words
_SENTENCE_END = re.compile(r"[.!?:;]+(?=\s|$)")


def lix(text: str) -> float:
    """The LIX readability index (Björnsson): words per sentence plus the percentage of words
    longer than six letters. Below 35 is easy (plain language); 45 and up is hard."""
    words = _WORD.findall(text)
    if not words:
        return 0.0
    sentences = len(_SENTENCE_END.findall(text))
    if not _SENTENCE_END.search(text.rstrip()[-1:] + " "):
        sentences += 1  # the last sentence has no full stop
    long_words = sum(1 for w in words if len(w.replace("-", "").replace("'", "")) > 6)
    return round(len(words) / sentences + 100 * long_words / len(words), 1)


def readability_warning(audience: AudienceKind, score: float, threshold: float) -> str | None:
    """Citizens are to get plain language: warn when a message to them reads harder."""
    if audience is AudienceKind.CITIZENS and score > threshold:
        return f"LIX {score} is above {threshold}: citizens need plain language"
    return None


def check_relation(stakeholder_id: str, other_id: str) -> None:
    if stakeholder_id == other_id:
        raise RuleViolation(
            "a stakeholder cannot be related to itself",
            errors=[{"field": "other_id", "message": "must be another stakeholder"}],
        )


@dataclass(frozen=True)
class Scheduled:
    """An activity as the overlap check sees it."""

    plan_id: str
    plan_title: str
    activity_id: str
    title: str
    audience_id: str
    starts_at: datetime


def overlaps(
    mine: list[Scheduled], others: list[Scheduled], window: timedelta
) -> list[tuple[Scheduled, Scheduled]]:
    """Activities of *different* plans that reach the same audience within `window` of each
    other: the "don't flood the audience" principle. Pairs of (mine, theirs), by date."""
    clashes = [
        (m, o)
        for m in mine
        for o in others
        if o.plan_id != m.plan_id
        and o.audience_id == m.audience_id
        and abs(o.starts_at - m.starts_at) <= window
    ]
    return sorted(clashes, key=lambda pair: (pair[0].starts_at, pair[1].starts_at))


class Change(StrEnum):
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"


def is_deviation(status: PlanStatus) -> bool:
    """Changing a draft is planning; changing an approved plan is a deviation, to be agreed
    with management and recorded with its reason."""
    if status is PlanStatus.CLOSED:
        raise Conflict("the plan is closed: its activities are history")
    return status in PUBLISHED


def check_deviation(reason: str | None, agreed_by: str | None) -> None:
    missing = [
        {"field": field, "message": "an approved plan changes only with a reason and who agreed"}
        for field, value in (("reason", reason), ("agreed_by", agreed_by))
        if not value
    ]
    if missing:
        raise RuleViolation(
            "a deviation from an approved plan needs a reason and who agreed", errors=missing
        )


def check_not_cancelled(cancelled: bool) -> None:
    if cancelled:
        raise Conflict("the activity is cancelled")
