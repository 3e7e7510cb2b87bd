"""Property tests (Hypothesis) of the date, recurrence and window functions, at the extremes
of Python's datetime range: each either answers or refuses with a rule violation, never
crashes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.planning.domain import Scheduled, check_period, overlaps
from services.planning.recurrence import expand_recurrence
from shared.contracts.vocabulary import ActivityKind
from shared.errors import RuleViolation
from shared.time import check_in_range

ANY_TIME = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
PARTS = st.sampled_from(
    [
        "FREQ=DAILY",
        "FREQ=WEEKLY",
        "FREQ=MONTHLY",
        "FREQ=YEARLY",
        "COUNT=3",
        "COUNT=1000",
        "UNTIL=99991231T000000Z",
        "UNTIL=00010102T000000Z",
        "INTERVAL=1000",
        "BYDAY=-1FR",
        "BYDAY=5SU",
        "BYDAY=53MO",
        "BYMONTHDAY=-31",
        "BYMONTHDAY=29",
        "BYMONTH=2",
        "WKST=SU",
    ]
)
RULES = st.lists(PARTS, min_size=1, max_size=5).map(";".join)


@given(start=ANY_TIME.map(lambda t: t.replace(microsecond=0)), rule=RULES)
@settings(max_examples=300, deadline=None)
def test_a_recurrence_is_expanded_or_refused_never_a_crash(start: datetime, rule: str) -> None:
    try:
        kept, times = expand_recurrence(rule, start, ActivityKind.COMMUNICATION)
    except RuleViolation:
        return
    assert times[0] == start and len(times) <= 1000 and times == sorted(times)
    assert 1900 <= start.year <= 2200 and kept


@given(when=ANY_TIME, days=st.integers(min_value=0, max_value=3650))
@settings(max_examples=300, deadline=None)
def test_overlaps_at_any_time_with_any_window_never_crash(when: datetime, days: int) -> None:
    mine = Scheduled("p1", "Plan 1", "a1", "Kronik", "aud", when)
    near = Scheduled("p2", "Plan 2", "a2", "Nyhedsbrev", "aud", when)
    found = overlaps([mine], [near], timedelta(days=days))
    assert [(m.activity_id, o.activity_id, n) for m, o, n in found] == [("a1", "a2", 1)]


@given(start=st.dates(), end=st.dates(), years=st.integers(min_value=1, max_value=10))
def test_a_period_is_checked_or_refused_never_a_crash(start: date, end: date, years: int) -> None:
    try:
        check_period(start, end, max_years=years)
    except RuleViolation:
        return
    assert start < end


@given(when=st.datetimes(timezones=st.just(UTC)))
def test_the_year_bound_refuses_with_a_rule_violation(when: datetime) -> None:
    try:
        check_in_range(when, "starts_at")
    except RuleViolation:
        assert not 1900 <= when.year <= 2200
    else:
        assert 1900 <= when.year <= 2200
