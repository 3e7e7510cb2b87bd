"""Time as Budskab's organisations keep it: Danish local time, and the years a plan may name.

Inputs are bounded to the years 1900–2200 (stated in the OpenAPI as `x-years`), so that no
date arithmetic a plan needs (a ten-year horizon, an overlap window, a time zone) can
overflow Python's range, which ends at the year 9999.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, TypeVar
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, Field

from shared.errors import RuleViolation

# a series is expanded in Danish time, so a meeting at 09:00 stays at 09:00 across daylight
# saving
LOCAL_TIME = ZoneInfo("Europe/Copenhagen")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
_YEARS = f"the years {EARLIEST_YEAR}–{LATEST_YEAR}"

D = TypeVar("D", date, datetime)


def _within(value: date | datetime) -> bool:
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def _in_range(value: D) -> D:
    if not _within(value):
        raise ValueError(f"must be within {_YEARS}")
    return value


def check_in_range(value: date | datetime, field: str) -> None:
    """The same bound for values that did not come through an API model."""
    if not _within(value):
        raise RuleViolation(
            f"{field} must be within {_YEARS}",
            errors=[{"field": field, "message": f"must be within {_YEARS}"}],
        )


def local_midnight(day: date) -> datetime:
    """The moment `day` begins in Denmark: where a report's days and years start and end."""
    return datetime.combine(day, time(), LOCAL_TIME)


def shifted(when: datetime, by: timedelta) -> datetime:
    """`when + by`, held at the end of Python's range instead of overflowing (a window
    around a time stored before the bounds above, or by another system)."""
    try:
        return when + by
    except OverflowError:
        end = datetime.max if by > timedelta(0) else datetime.min
        return end.replace(tzinfo=when.tzinfo)


_SCHEMA = Field(json_schema_extra={"x-years": f"{EARLIEST_YEAR}-{LATEST_YEAR}"})
PlanDatetime = Annotated[AwareDatetime, AfterValidator(_in_range), _SCHEMA]
PlanDate = Annotated[date, AfterValidator(_in_range), _SCHEMA]
