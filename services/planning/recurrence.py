"""Series of activities: an RFC 5545 recurrence rule, checked part by part and expanded once
into its occurrences, in plain Python."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrulestr

from shared.contracts.planning import MAX_OCCURRENCES
from shared.contracts.vocabulary import ActivityKind
from shared.errors import RuleViolation
from shared.time import LOCAL_TIME, check_in_range

HORIZON_YEARS = 10
MAX_INTERVAL = 1000
_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# the parts a plan needs; others (BYHOUR, BYSETPOS, …) can describe series that never occur,
# which a rule engine only finds out by searching for centuries
_PARTS = ("FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST")
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # a leap year's
_WEEKDAY = re.compile(r"([+-]?\d{1,2})?([A-Z]{2})")
_MAX_ORDINAL = {"MONTHLY": 5, "YEARLY": 53}  # "the 2nd Monday" of a month, of a year


def _problem(message: str) -> RuleViolation:
    return RuleViolation(
        f"not a usable recurrence: {message}",
        errors=[{"field": "recurrence", "message": message}],
    )


def _numbers(name: str, value: str, low: int, high: int, *, signed: bool = False) -> list[int]:
    """A part's comma-separated numbers, each within [low, high] (or its negative)."""
    try:
        numbers = [int(v) for v in value.split(",")]
    except ValueError:
        raise _problem(f"{name}={value} is not a list of numbers") from None
    if not all(low <= (abs(n) if signed else n) <= high and n != 0 for n in numbers):
        bounds = f"±{low}…{high}" if signed else f"{low}…{high}"
        raise _problem(f"{name} takes numbers in {bounds}")
    return numbers


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, _, value = part.partition("=")
        if name in parts:
            raise _problem(f"{name} is given twice")
        if not value:
            raise _problem(f"{name or 'a part'} has no value")
        parts[name] = value
    return parts


def _check(parts: dict[str, str]) -> None:
    """Every part and value is one a series of activities can use, before any engine runs."""
    if unknown := sorted(set(parts) - set(_PARTS)):
        raise _problem(f"{', '.join(unknown)} not supported; use {', '.join(_PARTS)}")
    freq = parts.get("FREQ")
    if freq not in _FREQUENCIES:
        raise _problem(f"FREQ must be one of {', '.join(_FREQUENCIES)}")
    if ("COUNT" in parts) == ("UNTIL" in parts):
        raise _problem("give COUNT or UNTIL (one of them)")
    _numbers("INTERVAL", parts.get("INTERVAL", "1"), 1, MAX_INTERVAL)
    _numbers("COUNT", parts.get("COUNT", "1"), 1, MAX_OCCURRENCES)
    months = _numbers("BYMONTH", parts.get("BYMONTH", "1,2,3,4,5,6,7,8,9,10,11,12"), 1, 12)
    if "BYMONTHDAY" in parts:
        days = _numbers("BYMONTHDAY", parts["BYMONTHDAY"], 1, 31, signed=True)
        if not any(abs(d) <= _DAYS_IN_MONTH[m - 1] for m in months for d in days):
            raise _problem("BYMONTH and BYMONTHDAY name no date that exists")
    for day in parts.get("BYDAY", "MO").split(","):
        match = _WEEKDAY.fullmatch(day)
        if match is None or match[2] not in _DAYS:
            raise _problem(f"BYDAY {day} is not a weekday (MO … SU, e.g. 2MO or -1FR)")
        if match[1] is not None:
            # with BYMONTH a yearly rule counts weekdays within the month (RFC 5545 3.3.10)
            within = "MONTHLY" if freq == "YEARLY" and "BYMONTH" in parts else freq
            highest = _MAX_ORDINAL.get(within, 0)
            if not 1 <= abs(int(match[1])) <= highest:
                where = (
                    f"±1…{highest} with FREQ={freq}{' and BYMONTH' if within != freq else ''}"
                    if highest
                    else "only with MONTHLY or YEARLY"
                )
                raise _problem(f"BYDAY {day}: a numbered weekday takes {where}")
    if parts.get("WKST", "MO") not in _DAYS:
        raise _problem("WKST must be a weekday (MO … SU)")


def expand_recurrence(
    rule: str, starts_at: datetime, kind: ActivityKind
) -> tuple[str, list[datetime]]:
    """Check an RFC 5545 RRULE for an activity (e.g. "FREQ=MONTHLY;COUNT=12") and list its
    occurrences, in UTC: at least one, at most 1000, all within ten years, the first being
    `starts_at`. Returns the rule as kept and the occurrences."""
    if kind is ActivityKind.EVENT:
        raise _problem("an event is one occasion: add an activity for each event")
    if starts_at.microsecond:
        raise _problem("a recurring activity starts on a whole second")
    check_in_range(starts_at, "starts_at")
    text = rule.strip().upper().removeprefix("RRULE:")
    _check(_parts(text))
    local_start = starts_at.astimezone(LOCAL_TIME)
    try:
        series = rrulestr(text, dtstart=local_start)
    except (ValueError, TypeError, OverflowError) as error:
        raise _problem(str(error)) from None
    horizon = starts_at + relativedelta(years=HORIZON_YEARS)
    found: list[datetime] = []
    for when in series:
        if when > horizon:
            raise _problem(f"the series must end within {HORIZON_YEARS} years")
        if len(found) == MAX_OCCURRENCES:
            raise _problem(f"at most {MAX_OCCURRENCES} occurrences")
        if not found:
            # compared by the clock on the wall: the engine reads an hour that comes twice
            # (02:00-03:00 on the last Sunday of October) as its first time, starts_at may be
            # the second
            if when.replace(tzinfo=None) != local_start.replace(tzinfo=None):
                raise _problem("starts_at must be the first occurrence of the rule")
            when = starts_at
        found.append(when.astimezone(UTC))
    if not found:
        raise _problem("starts_at must be the first occurrence of the rule")
    return text, found


def next_occurrence(times: list[datetime], after: datetime) -> datetime | None:
    """The first of `times` strictly after `after`, or None when there is none left."""
    return next((when for when in times if when > after), None)
