"""Planning rules, in plain Python: what makes a plan approvable, and its status workflow."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ActivityDraft:
    """What approval needs to know of an activity."""

    title: str
    kind: ActivityKind
    audience_id: str | None
    message_id: str | None
    channel_id: str | None
    has_event_details: bool


def ensure_editable(status: PlanStatus) -> None:
    if status not in EDITABLE:
        raise Conflict(
            f"the plan is {status}; an approved plan changes only through a recorded deviation"
        )


def check_approvable(status: PlanStatus, activities: list[ActivityDraft]) -> None:
    """Goal, audience, message and channel for everything: list every missing piece at once."""
    ensure_editable(status)
    problems: list[dict[str, str]] = []
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
