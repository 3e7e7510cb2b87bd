"""The calendar of every plan's activities, as JSON and as an iCal feed: recurring activities
once per occurrence in Danish time, filters, limits and paging."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from tests.factories import PLANNER, create_approvable_plan
from tests.planning_world import (
    ANALYST,
    DIALOGUE,
    MESTRING,
    MONTHLY_AT,
    World,
    add_activity,
    assert_names,
    at,
    calendar,
    ical,
    occurrences,
    ok,
    vevents,
)

pytestmark = pytest.mark.integration


# --- the calendar -----------------------------------------------------------------------------


async def test_a_recurring_activity_is_on_the_calendar_once_per_occurrence(world: World) -> None:
    entries = await calendar(world.client, plan_id=world.on_sub_track["plan"]["id"])

    monthly = [e for e in entries if e["activity_id"] == world.monthly["id"]]
    assert [at(e["starts_at"]) for e in monthly] == MONTHLY_AT
    assert all(e["recurring"] and e["title"] == "Nyt fra direktionen" for e in monthly)
    assert {(e["plan_id"], e["audience"], e["channel"], e["kind"]) for e in monthly} == {
        (world.on_sub_track["plan"]["id"], "Kommunale medarbejdere", "newsletter", "communication")
    }
    one_offs = [e for e in entries if e["activity_id"] != world.monthly["id"]]
    assert sorted(e["title"] for e in one_offs) == [
        "Nyhedsbrev januar",
        "Velfærdens innovationsdag",
    ]
    assert not any(e["recurring"] for e in one_offs)
    assert [at(e["starts_at"]) for e in entries] == sorted(at(e["starts_at"]) for e in entries)


async def test_occurrences_keep_their_danish_time_of_day_across_daylight_saving(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    meeting = await add_activity(
        planning,
        made,
        title="Ledermøde",
        starts_at="2016-01-12T09:00:00+01:00",
        recurrence="FREQ=MONTHLY;BYMONTHDAY=12;COUNT=12",
    )

    entries = await calendar(planning, plan_id=made["plan"]["id"])

    copenhagen = ZoneInfo("Europe/Copenhagen")
    local = [
        at(e["starts_at"]).astimezone(copenhagen)
        for e in entries
        if e["activity_id"] == meeting["id"]
    ]
    assert [(t.year, t.month, t.day, t.hour, t.minute) for t in local] == [
        (2016, month, 12, 9, 0) for month in range(1, 13)
    ]
    assert at(entries[-1]["starts_at"]) == at("2016-12-12T08:00:00Z")
    july = next(t for t in local if t.month == 7)
    assert july.utcoffset() is not None and july.utcoffset().total_seconds() == 7200


@pytest.mark.parametrize(
    ("rule", "local_days"),
    [
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=3", ["2016-01-12", "2016-01-26", "2016-02-09"]),
        ("FREQ=MONTHLY;BYDAY=2TU;COUNT=3", ["2016-01-12", "2016-02-09", "2016-03-08"]),
        (
            "FREQ=YEARLY;BYMONTH=1,6;BYMONTHDAY=12;COUNT=3",
            ["2016-01-12", "2016-06-12", "2017-01-12"],
        ),
        ("FREQ=DAILY;UNTIL=20160114T080000Z", ["2016-01-12", "2016-01-13", "2016-01-14"]),
    ],
)
async def test_the_documented_rule_parts_are_expanded_from_starts_at(
    planning: httpx.AsyncClient, rule: str, local_days: list[str]
) -> None:
    made = await create_approvable_plan(planning)
    activity = await add_activity(
        planning, made, title="Ledermøde", starts_at="2016-01-12T09:00:00+01:00", recurrence=rule
    )  # a Tuesday

    entries = await calendar(planning, plan_id=made["plan"]["id"])

    copenhagen = ZoneInfo("Europe/Copenhagen")
    local = [
        at(e["starts_at"]).astimezone(copenhagen)
        for e in entries
        if e["activity_id"] == activity["id"]
    ]
    assert [t.date().isoformat() for t in local] == local_days
    assert {(t.hour, t.minute) for t in local} == {(9, 0)}


@pytest.mark.parametrize(
    ("starts_from", "starts_before", "taken"),
    [
        ("2015-12-01T00:00:00+01:00", "2016-03-01T00:00:00+01:00", [1, 2, 3]),
        ("2016-01-04T07:00:00Z", "2016-02-04T07:00:00Z", [2]),  # from: inclusive; before: not
        ("2016-01-04T09:00:00+02:00", "2016-02-04T09:00:01+02:00", [2, 3]),  # the same instants
        ("2016-01-04T07:00:01Z", None, [3, 4]),
        (None, "2015-12-04T07:00:00Z", [0]),
        ("2016-03-05T00:00:00Z", None, []),
        ("2016-03-01T00:00:00Z", "2015-12-01T00:00:00Z", []),
    ],
)
async def test_the_calendar_period_takes_each_occurrence_in_it(
    world: World, starts_from: str | None, starts_before: str | None, taken: list[int]
) -> None:
    period = {"starts_from": starts_from, "starts_before": starts_before}
    params = {k: v for k, v in period.items() if v is not None}

    entries = await calendar(world.client, plan_id=world.on_sub_track["plan"]["id"], **params)

    monthly = [at(e["starts_at"]) for e in entries if e["activity_id"] == world.monthly["id"]]
    assert monthly == [MONTHLY_AT[i] for i in taken]
    for entry in entries:
        assert starts_from is None or at(entry["starts_at"]) >= at(starts_from)
        assert starts_before is None or at(entry["starts_at"]) < at(starts_before)


async def test_the_calendar_by_track_takes_plans_on_the_node_and_below_it(world: World) -> None:
    sub_track, track = world.on_sub_track["plan"]["id"], world.on_track["plan"]["id"]

    async def plans_on(name: str) -> set[str]:
        return {e["plan_id"] for e in await calendar(world.client, track_id=world.node(name)["id"])}

    assert await plans_on("Strategisk kommunikation") == {sub_track, track}
    assert await plans_on(MESTRING) == {sub_track}
    assert await plans_on("Skriv klart") == {sub_track}
    assert await plans_on(DIALOGUE) == {track}
    assert await plans_on("Digitale kanaler") == set()
    assert await plans_on("Digitalisering") == set()
    everything = {e["plan_id"] for e in await calendar(world.client)}
    assert world.off_strategy["plan"]["id"] in everything


async def test_the_calendar_filters_by_audience_and_channel(world: World) -> None:
    by_audience = await calendar(world.client, audience_id=world.on_track["audience"]["id"])
    assert [e["plan_id"] for e in by_audience] == [world.on_track["plan"]["id"]] * 2
    plan_id = world.on_sub_track["plan"]["id"]
    assert len(await calendar(world.client, channel="newsletter", plan_id=plan_id)) == 7
    assert await calendar(world.client, channel="sms") == []


async def test_the_calendar_limit_keeps_the_earliest_occurrences(world: World) -> None:
    plan_id = world.on_sub_track["plan"]["id"]
    everything = await calendar(world.client, plan_id=plan_id)

    first_four = await calendar(world.client, plan_id=plan_id, limit=4)

    assert len(everything) == 7
    assert first_four == everything[:4]
    assert [(at(e["starts_at"]), e["title"]) for e in first_four] == [
        *[(day, "Nyt fra direktionen") for day in MONTHLY_AT[:3]],
        (at("2016-01-05T07:00:00Z"), "Nyhedsbrev januar"),
    ]


@pytest.mark.parametrize("route", ["/v1/calendar", "/v1/calendar.ics"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"starts_from": "2016-03-01T00:00:00"}, "starts_from"),  # no time zone
        ({"starts_before": "in March"}, "starts_before"),
        ({"channel": "fax"}, "channel"),
    ],
)
async def test_bad_calendar_filters_are_422_problems_naming_the_parameter(
    world: World, route: str, params: dict, field: str
) -> None:
    assert_names(await world.client.get(route, params=params, headers=ANALYST), field)


@pytest.mark.parametrize("route", ["/v1/strategies", "/v1/partners"])
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 2**31}, "offset"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_out_of_range_paging_is_a_422_problem_naming_the_parameter(
    world: World, route: str, params: dict, field: str
) -> None:
    assert_names(await world.client.get(route, params=params, headers=ANALYST), field)


async def test_the_largest_pages_are_allowed(world: World) -> None:
    for route, limit in [
        ("/v1/calendar", 1000),
        ("/v1/calendar.ics", 1000),
        ("/v1/strategies", 200),
        ("/v1/partners", 200),
        (f"/v1/plans/{world.on_track['plan']['id']}/versions", 200),
    ]:
        response = await world.client.get(route, params={"limit": limit}, headers=ANALYST)
        assert response.status_code == 200, f"{route}: {response.text}"


async def test_rescheduling_a_recurring_activity_moves_the_whole_series(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    plan_id = made["plan"]["id"]
    monthly = await add_activity(planning, made, recurrence="FREQ=MONTHLY;COUNT=3")

    moved = await planning.post(
        f"/v1/plans/{plan_id}/activities/{monthly['id']}/reschedule",
        json={"starts_at": "2015-11-10T08:00:00+01:00"},
        headers=PLANNER,
    )

    assert at(ok(moved)["starts_at"]) == at("2015-11-10T07:00:00Z")
    entries = await calendar(planning, plan_id=plan_id)
    assert [at(e["starts_at"]) for e in entries if e["activity_id"] == monthly["id"]] == [
        at("2015-11-10T07:00:00Z"),
        at("2015-12-10T07:00:00Z"),
        at("2016-01-10T07:00:00Z"),
    ]


# --- the iCal feed ----------------------------------------------------------------------------


async def test_the_ical_feed_is_rfc_5545_with_the_same_occurrences_as_the_json(
    world: World,
) -> None:
    plan_id = world.on_sub_track["plan"]["id"]

    response = await world.client.get(
        "/v1/calendar.ics", params={"plan_id": plan_id}, headers=ANALYST
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    lines = response.content.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR" and b"\n" not in b"".join(lines)  # CRLF only
    feed = icalendar.Calendar.from_ical(response.content)
    assert str(feed["version"]) == "2.0" and str(feed.get("prodid", ""))
    events = list(feed.walk("VEVENT"))
    uids = [str(event["uid"]) for event in events]
    assert len(set(uids)) == len(uids) == 7
    assert all(event.get("dtstamp") for event in events)
    assert vevents(feed) == occurrences(await calendar(world.client, plan_id=plan_id))


async def test_the_ical_feed_takes_the_same_filters_as_the_json(world: World) -> None:
    for params in [
        {"starts_from": "2015-12-01T00:00:00+01:00", "starts_before": "2016-03-01T00:00:00+01:00"},
        {"track_id": world.node("Strategisk kommunikation")["id"]},
        {"track_id": world.node(DIALOGUE)["id"]},
        {"plan_id": world.on_sub_track["plan"]["id"], "limit": 5},
        {"audience_id": world.on_track["audience"]["id"]},
        {"channel": "sms"},
    ]:
        feed = await ical(world.client, **params)
        assert vevents(feed) == occurrences(await calendar(world.client, **params)), params


async def test_the_ical_feed_escapes_text_so_a_title_cannot_add_events(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    title = "Debat, dilemmaer; velfærd\\\nEND:VEVENT\nBEGIN:VEVENT\nSUMMARY:Falsk"
    await add_activity(planning, made, title=title, recurrence=None)

    feed = await ical(planning, plan_id=made["plan"]["id"])

    summaries = [summary for _, summary in vevents(feed)]
    assert len(summaries) == 3
    assert title in summaries
