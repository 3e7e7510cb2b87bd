"""Planning's rules for strategies, versions and recurrence, without I/O."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.planning.domain import (
    ActivityDraft,
    NodeLevel,
    Scheduled,
    action_item_key,
    check_action_plan_year,
    check_activity_complete,
    check_period,
    check_unique_items,
    child_level,
    diff_items,
    diff_snapshots,
    overlaps,
)
from services.planning.recurrence import expand_recurrence, next_occurrence
from shared.contracts.metrics import attained
from shared.contracts.vocabulary import ActivityKind
from shared.errors import RuleViolation
from shared.time import LOCAL_TIME

MONDAY = datetime(2016, 1, 4, 8, tzinfo=UTC)


def test_the_tree_goes_focus_area_track_sub_track_and_stops() -> None:
    assert child_level(None) is NodeLevel.FOCUS_AREA
    assert child_level(NodeLevel.FOCUS_AREA) is NodeLevel.TRACK
    assert child_level(NodeLevel.TRACK) is NodeLevel.SUB_TRACK
    with pytest.raises(RuleViolation) as caught:
        child_level(NodeLevel.SUB_TRACK)
    assert caught.value.errors[0]["field"] == "parent_id"


@pytest.mark.parametrize(
    ("start", "end", "max_years", "message"),
    [
        (date(2013, 1, 1), date(2012, 12, 31), None, "must be after period_start"),
        (date(2013, 1, 1), date(2013, 1, 1), None, "must be after period_start"),
        (date(2013, 1, 1), None, None, "give both ends of the period"),
        (date(2012, 1, 1), date(2017, 1, 2), 5, "a strategy runs at most 5 years"),
    ],
)
def test_a_period_that_makes_no_sense_is_refused(
    start: date, end: date | None, max_years: int | None, message: str
) -> None:
    with pytest.raises(RuleViolation) as caught:
        check_period(start, end, max_years=max_years)
    assert caught.value.errors == [{"field": "period_end", "message": message}]


def test_sensible_periods_pass() -> None:
    check_period(None, None)
    check_period(date(2012, 1, 1), date(2015, 12, 31), max_years=5)  # the region's 2012–2015
    check_period(date(2012, 1, 1), date(2017, 1, 1), max_years=5)  # five years to the day
    check_period(date(2016, 2, 29), date(2017, 2, 28), max_years=1)  # a leap day start


def test_an_action_plan_is_for_a_year_of_its_strategy() -> None:
    check_action_plan_year(2014, date(2013, 1, 1), date(2014, 12, 31))
    with pytest.raises(RuleViolation):
        check_action_plan_year(2015, date(2013, 1, 1), date(2014, 12, 31))


def test_an_initiative_appears_once_per_track() -> None:
    items = [{"track_id": "t", "initiative": "Kursus"}, {"track_id": "u", "initiative": "Kursus"}]
    check_unique_items(items)
    with pytest.raises(RuleViolation) as caught:
        check_unique_items([*items, {"track_id": "t", "initiative": "Kursus"}])
    assert caught.value.errors[0]["field"] == "items[2].initiative"


def test_the_diff_lists_added_removed_and_changed_items_field_by_field() -> None:
    before = [
        {"track_id": "t", "initiative": "Kursus", "owner": "HR"},
        {"track_id": "t", "initiative": "Gå-hjem-møder", "owner": ""},
    ]
    after = [
        {"track_id": "t", "initiative": "Kursus", "owner": "Kommunikation"},
        {"track_id": "u", "initiative": "Kampagne", "owner": ""},
    ]
    assert diff_items(before, after, action_item_key) == {
        "added": [after[1]],
        "removed": [before[1]],
        "changed": [
            {"item": after[0], "fields": {"owner": {"before": "HR", "after": "Kommunikation"}}}
        ],
    }
    assert diff_items(after, after, action_item_key) == {"added": [], "removed": [], "changed": []}


def test_a_plan_diff_ignores_bookkeeping_and_matches_parts_by_id() -> None:
    before = {
        "title": "Tendens",
        "version": 3,
        "updated_at": "x",
        "goals": [{"id": "g", "target": 6}],
        "activities": [{"id": "a", "title": "Nr. 1"}],
    }
    after = {
        "title": "Tendens 2015",
        "version": 7,
        "updated_at": "y",
        "goals": [{"id": "g", "target": 8}],
        "activities": [],
    }
    diff = diff_snapshots(before, after)
    assert diff["fields"] == {"title": {"before": "Tendens", "after": "Tendens 2015"}}
    assert diff["parts"]["goals"]["changed"] == [
        {"item": {"id": "g", "target": 8}, "fields": {"target": {"before": 6, "after": 8}}}
    ]
    assert diff["parts"]["activities"]["removed"] == [{"id": "a", "title": "Nr. 1"}]
    assert diff["parts"]["messages"] == {"added": [], "removed": [], "changed": []}


def expand(rule: str, start: datetime = MONDAY) -> list[datetime]:
    return expand_recurrence(rule, start, ActivityKind.COMMUNICATION)[1]


def test_a_recurring_activity_takes_place_at_every_occurrence() -> None:
    monthly = expand("RRULE:FREQ=MONTHLY;COUNT=3")
    assert [d.date() for d in monthly] == [date(2016, 1, 4), date(2016, 2, 4), date(2016, 3, 4)]
    assert expand_recurrence("rrule:freq=monthly;count=3", MONDAY, ActivityKind.OTHER)[0] == (
        "FREQ=MONTHLY;COUNT=3"
    )  # kept in one spelling
    assert next_occurrence(monthly, MONDAY) == monthly[1]
    assert next_occurrence(monthly, monthly[2]) is None
    assert len(expand("FREQ=WEEKLY;UNTIL=20160125T080000Z")) == 4


def test_a_series_keeps_its_local_time_across_daylight_saving() -> None:
    nine_in_copenhagen = datetime(2016, 1, 4, 8, tzinfo=UTC)  # 09:00 CET
    hours = [d.hour for d in expand("FREQ=MONTHLY;COUNT=5", nine_in_copenhagen)]
    assert hours == [8, 8, 8, 7, 7]  # 09:00 CET until March, 09:00 CEST from April


@pytest.mark.parametrize("rule", ["FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;COUNT=3"])
def test_a_series_may_start_in_the_hour_that_comes_twice(rule: str) -> None:
    """On the last Sunday of October 02:30 comes twice in Copenhagen: at 00:30 and at 01:30
    UTC. Both are the start of a series at 02:30 (the second was once refused as "not the
    first occurrence")."""
    for first_time, second_time in ((0, 30), (1, 30)):
        start = datetime(2027, 10, 31, first_time, second_time, tzinfo=UTC)
        series = expand(rule, start)
        assert series[0] == start
        assert all(d.astimezone(LOCAL_TIME).time() == time(2, 30) for d in series)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=MONTHLY", "give COUNT or UNTIL"),
        ("FREQ=DAILY;COUNT=1001", "COUNT takes numbers in 1…1000"),
        ("FREQ=DAILY;UNTIL=20250101T000000Z", "at most 1000 occurrences"),
        ("FREQ=YEARLY;COUNT=12", "the series must end within 10 years"),
        ("FREQ=FORTNIGHTLY;COUNT=2", "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("FREQ=MINUTELY;COUNT=2", "FREQ must be one of DAILY, WEEKLY, MONTHLY, YEARLY"),
        ("FREQ=MONTHLY;COUNT=0", "COUNT takes numbers in 1…1000"),
        ("FREQ=MONTHLY;INTERVAL=0;COUNT=3", "INTERVAL takes numbers in 1…1000"),
        ("FREQ=DAILY;INTERVAL=99999999999;COUNT=2", "INTERVAL takes numbers in 1…1000"),
        ("FREQ=MONTHLY;COUNT=two", "COUNT=TWO is not a list of numbers"),
        ("FREQ=MONTHLY;COUNT=2;COUNT=3", "COUNT is given twice"),
        ("FREQ=MONTHLY;COUNT=", "COUNT has no value"),
        ("FREQ=MONTHLY;BYDAY=60MO;COUNT=3", "BYDAY 60MO: a numbered weekday takes ±1…5"),
        ("FREQ=WEEKLY;BYDAY=1MO;COUNT=3", "only with MONTHLY or YEARLY"),
        # found by the property test: dateutil's IndexError on the 53rd Monday of February
        (
            "FREQ=YEARLY;COUNT=3;BYDAY=53MO;BYMONTH=2",
            "BYDAY 53MO: a numbered weekday takes ±1…5 with FREQ=YEARLY and BYMONTH",
        ),
        ("FREQ=WEEKLY;BYDAY=XX;COUNT=3", "BYDAY XX is not a weekday"),
        ("FREQ=YEARLY;BYMONTH=13;COUNT=2", "BYMONTH takes numbers in 1…12"),
        ("FREQ=MONTHLY;BYMONTHDAY=0;COUNT=2", "BYMONTHDAY takes numbers in ±1…31"),
        ("FREQ=WEEKLY;WKST=XX;COUNT=2", "WKST must be a weekday"),
        ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;COUNT=1", "name no date that exists"),
        ("FREQ=MONTHLY;BYSETPOS=1;COUNT=2", "BYSETPOS not supported"),
        ("FREQ=WEEKLY;BYDAY=WE;COUNT=3", "starts_at must be the first occurrence of the rule"),
        ("FREQ=DAILY;UNTIL=20160201", "RRULE UNTIL values must be specified in UTC"),
    ],
)
def test_a_recurrence_must_be_valid_cheap_and_end(rule: str, message: str) -> None:
    with pytest.raises(RuleViolation) as caught:
        expand(rule)
    assert caught.value.errors[0]["field"] == "recurrence"
    assert message in caught.value.errors[0]["message"]


def test_an_event_does_not_recur() -> None:
    with pytest.raises(RuleViolation) as caught:
        expand_recurrence("FREQ=MONTHLY;COUNT=2", MONDAY, ActivityKind.EVENT)
    assert "one occasion" in caught.value.errors[0]["message"]


def test_overlaps_are_one_entry_per_pair_of_activities() -> None:
    daily = [
        Scheduled("p", "Plan", "a", "Ledernyt", "staff", MONDAY + timedelta(days=i))
        for i in range(30)
    ]
    others = [
        Scheduled("q", "Andet", "b", "Trivsel", "staff", MONDAY + timedelta(days=10, hours=5)),
        Scheduled("q", "Andet", "c", "Presse", "press", MONDAY),
        Scheduled("p", "Plan", "d", "Egen", "staff", MONDAY),  # the same plan: no clash
    ]
    [(mine, theirs, count)] = overlaps(daily, others, timedelta(days=2))
    assert (mine.starts_at, theirs.activity_id, count) == (MONDAY + timedelta(days=10), "b", 4)


def test_an_activity_added_to_an_approved_plan_must_be_complete() -> None:
    complete = ActivityDraft("Rethink", ActivityKind.EVENT, "a", "m", "c", has_event_details=True)
    check_activity_complete(complete)
    with pytest.raises(RuleViolation) as caught:
        check_activity_complete(
            ActivityDraft("Rethink", ActivityKind.EVENT, None, "m", None, False)
        )
    assert [e["field"] for e in caught.value.errors] == ["audience_id", "channel_id", "event"]


def test_a_goal_is_attained_when_its_measured_value_reaches_the_target() -> None:
    assert attained(None, 74) is None
    assert attained(73.9, 74) is False
    assert attained(74, 74) is True


def test_a_series_starts_on_a_whole_second() -> None:
    with pytest.raises(RuleViolation) as caught:
        expand("FREQ=MONTHLY;COUNT=2", MONDAY.replace(microsecond=250_000))
    assert caught.value.errors[0]["message"] == "a recurring activity starts on a whole second"


@pytest.mark.parametrize(
    "start", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)]
)
def test_a_series_at_the_edges_of_time_is_refused_not_a_crash(start: datetime) -> None:
    with pytest.raises(RuleViolation, match="within the years 1900–2200"):
        expand("FREQ=DAILY;COUNT=3", start)
