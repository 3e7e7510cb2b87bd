"""Planning rules, in plain Python: what makes a plan approvable, its status workflow, how
readable a message to citizens is, a strategy's tree and what changed between versions."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from shared.contracts.vocabulary import MAX_SMS, ActivityKind, ChannelKind
from shared.errors import Conflict, Forbidden, RuleViolation
from shared.time import shifted


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


def check_four_eyes(status: PlanStatus, submitted_by: str | None, approver: str) -> None:
    """Someone other than its author approves a plan: it is submitted for review first, and
    who submitted it may not approve it."""
    if status is PlanStatus.DRAFT:
        raise Conflict("submit the plan for review first: someone else approves it")
    if status is PlanStatus.IN_REVIEW and submitted_by == approver:
        raise Forbidden("you submitted this plan: someone else must approve it")


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
        problems += _missing(activity, f"activities[{i}] ({activity.title}).")
    if problems:
        raise RuleViolation(
            f"the plan cannot be approved: {len(problems)} problem(s)", errors=problems
        )


def check_activity_complete(activity: ActivityDraft) -> None:
    """An activity added to an approved plan goes out at once, so it must be complete."""
    if problems := _missing(activity, ""):
        raise RuleViolation(
            f"an activity of an approved plan needs everything: {len(problems)} problem(s)",
            errors=problems,
        )


def _missing(activity: ActivityDraft, where: str) -> list[dict[str, str]]:
    problems = [
        {"field": f"{where}{field}", "message": f"{field[:-3]} is missing"}
        for field in ("audience_id", "message_id", "channel_id")
        if getattr(activity, field) is None
    ]
    if activity.kind is ActivityKind.EVENT and not activity.has_event_details:
        problems.append(
            {"field": f"{where}event", "message": "an event needs a format and a capacity"}
        )
    return problems


def check_message_fits_audience(message_audience_id: str, activity_audience_id: str | None) -> None:
    """A message is written for one audience; an activity may only carry it to that audience."""
    if activity_audience_id is not None and message_audience_id != activity_audience_id:
        raise RuleViolation(
            "the message is written for another audience than the activity's",
            errors=[{"field": "message_id", "message": "written for another audience"}],
        )


def check_message_fits_channel(body: str, channel_kind: str) -> None:
    """A text message carries at most MAX_SMS characters: a longer message cannot go as one,
    and each of its recipients would fail."""
    if channel_kind == ChannelKind.SMS and len(body) > MAX_SMS:
        raise RuleViolation(
            f"the message is too long for a text message: {len(body)} characters,"
            f" an SMS carries at most {MAX_SMS}",
            errors=[{"field": "message_id", "message": f"longer than {MAX_SMS} characters"}],
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
) -> list[tuple[Scheduled, Scheduled, int]]:
    """Activities of *different* plans that reach the same audience within `window` of each
    other: the "don't flood the audience" principle. One entry per pair of activities (a
    recurring one may clash many times): the closest clash and how many there are, by date."""
    by_audience: dict[str, list[Scheduled]] = {}
    for other in sorted(others, key=lambda o: o.starts_at):
        by_audience.setdefault(other.audience_id, []).append(other)
    pairs: dict[tuple[str, str], list[tuple[Scheduled, Scheduled]]] = {}
    for m in mine:
        candidates = by_audience.get(m.audience_id, [])
        first = bisect_left(candidates, shifted(m.starts_at, -window), key=lambda o: o.starts_at)
        for o in candidates[first:]:
            if o.starts_at > shifted(m.starts_at, window):
                break
            if o.plan_id != m.plan_id:
                pairs.setdefault((m.activity_id, o.activity_id), []).append((m, o))
    clashes = [
        (*min(found, key=lambda pair: abs(pair[1].starts_at - pair[0].starts_at)), len(found))
        for found in pairs.values()
    ]
    return sorted(clashes, key=lambda clash: (clash[0].starts_at, clash[1].starts_at))


class Change(StrEnum):
    """What a deviation from an approved plan changed."""

    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    ACTIVITY_ADDED = "activity_added"
    GOAL_ADDED = "goal_added"
    AUDIENCE_ADDED = "audience_added"
    MESSAGE_ADDED = "message_added"
    CHANNEL_ADDED = "channel_added"
    PLAN_UPDATED = "plan_updated"


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


class NodeLevel(StrEnum):
    """A strategy's tree: focus areas, their tracks, and the tracks' sub-tracks (case C)."""

    FOCUS_AREA = "focus_area"
    TRACK = "track"
    SUB_TRACK = "sub_track"


_CHILD_LEVEL = {
    None: NodeLevel.FOCUS_AREA,
    NodeLevel.FOCUS_AREA: NodeLevel.TRACK,
    NodeLevel.TRACK: NodeLevel.SUB_TRACK,
}
LINKABLE = {NodeLevel.TRACK, NodeLevel.SUB_TRACK}  # what a plan can be linked to
MAX_STRATEGY_YEARS = 5


def child_level(parent: NodeLevel | None) -> NodeLevel:
    """The level of a node added under `parent` (None: the strategy itself)."""
    if parent not in _CHILD_LEVEL:
        raise RuleViolation(
            "a sub-track is the bottom of the tree",
            errors=[{"field": "parent_id", "message": "a sub-track cannot have children"}],
        )
    return _CHILD_LEVEL[parent]


def check_period(start: date | None, end: date | None, *, max_years: int | None = None) -> None:
    """A period ends after it starts; a strategy runs a few years (2–3 as a rule)."""
    problems = []
    if (start is None) != (end is None):
        problems.append({"field": "period_end", "message": "give both ends of the period"})
    elif start is not None and end is not None:
        if end <= start:
            problems.append({"field": "period_end", "message": "must be after period_start"})
        elif max_years is not None and end > start + relativedelta(years=max_years):
            problems.append(
                {"field": "period_end", "message": f"a strategy runs at most {max_years} years"}
            )
    if problems:
        raise RuleViolation("the period is not valid", errors=problems)


def check_action_plan_year(year: int, start: date, end: date) -> None:
    if not start.year <= year <= end.year:
        raise RuleViolation(
            f"{year} is outside the strategy's period {start.year}–{end.year}",
            errors=[{"field": "year", "message": "outside the strategy's period"}],
        )


def action_item_key(item: dict) -> tuple[str, str]:
    """An action-plan item is the same item across revisions if track and initiative match."""
    return item["track_id"], item["initiative"]


def check_unique_items(items: list[dict]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        if action_item_key(item) in seen:
            raise RuleViolation(
                "an initiative appears twice under the same track",
                errors=[{"field": f"items[{i}].initiative", "message": "duplicate in this track"}],
            )
        seen.add(action_item_key(item))


def diff_items(before: list[dict], after: list[dict], key: Callable[[dict], Hashable]) -> dict:
    """What changed between two versions of a list of items: the items added and removed, and
    for items in both (same key) each field whose value changed, as before/after."""
    old = {key(item): item for item in before}
    new = {key(item): item for item in after}
    changed = []
    for k, item in new.items():
        if k in old and item != old[k]:
            fields = {
                name: {"before": old[k].get(name), "after": item.get(name)}
                for name in sorted(old[k].keys() | item.keys())
                if old[k].get(name) != item.get(name)
            }
            changed.append({"item": item, "fields": fields})
    return {
        "added": [item for k, item in new.items() if k not in old],
        "removed": [item for k, item in old.items() if k not in new],
        "changed": changed,
    }


PLAN_PARTS = ("goals", "audiences", "messages", "channels", "activities")
_BOOKKEEPING = {"version", "updated_at"}  # differ between any two versions


def diff_snapshots(before: dict, after: dict) -> dict:
    """What changed between two versions of a plan: its own fields, and per part the items
    added, removed and changed (matched by id)."""
    fields = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted((before.keys() | after.keys()) - set(PLAN_PARTS) - _BOOKKEEPING)
        if before.get(name) != after.get(name)
    }
    parts = {
        part: diff_items(before.get(part, []), after.get(part, []), lambda item: item["id"])
        for part in PLAN_PARTS
    }
    return {"fields": fields, "parts": parts}


def channel_warning(audience: str, preferred: list[str], channel: str) -> str | None:
    """Each audience has its own channels: warn when an activity reaches it through another."""
    if preferred and channel not in preferred:
        return f"{audience} prefer {', '.join(preferred)}; {channel} is not one of them"
    return None
