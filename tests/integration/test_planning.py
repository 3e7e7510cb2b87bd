"""Planning's rules through its API and its durable timer, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.planning.app import create_app
from services.planning.settings import PlanningSettings
from services.planning.timers import fire_due_activities
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

OFFICIALESE = (
    "Kommunalbestyrelsens beslutningsgrundlag vedrørende implementeringen af "
    "velfærdsteknologiske løsninger forudsætter tværorganisatorisk koordinering."
)


def planning(database_url: str):  # type: ignore[no-untyped-def]
    return create_app(
        settings_for(PlanningSettings, database_url, "127.0.0.1:1", due_check_interval_seconds=3600)
    )


async def test_a_plan_without_a_goal_is_not_approved(database_url: str) -> None:
    async with serving(planning(database_url)) as client:
        plan = await create_plan(client)
        response = await client.post(f"/v1/plans/{plan['id']}/approve", headers=PLANNER)
    assert response.status_code == 422
    assert {
        "field": "goals",
        "message": "a plan needs at least one measurable goal",
    } in response.json()["errors"]


async def test_messages_to_citizens_are_checked_for_plain_language(database_url: str) -> None:
    async with serving(planning(database_url)) as client:
        plan = await create_plan(client)
        url = f"/v1/plans/{plan['id']}"
        citizens = (
            await client.post(
                f"{url}/audiences", json={"name": "Borgere", "kind": "citizens"}, headers=PLANNER
            )
        ).json()
        staff = (
            await client.post(
                f"{url}/audiences", json={"name": "Medarbejdere", "kind": "staff"}, headers=PLANNER
            )
        ).json()

        async def message(audience: dict, body: str) -> dict:
            response = await client.post(
                f"{url}/messages",
                json={"audience_id": audience["id"], "subject": "Velfærd", "body": body},
                headers=PLANNER,
            )
            assert response.status_code == 201, response.text
            return response.json()

        hard_for_citizens = await message(citizens, OFFICIALESE)
        plain_for_citizens = await message(citizens, "Kom til mødet. Det er gratis.")
        hard_for_staff = await message(staff, OFFICIALESE)
        shown = (await client.get(url, headers=PLANNER)).json()["messages"]
    assert hard_for_citizens["lix"] == 100.0
    assert "plain language" in hard_for_citizens["readability_warning"]
    assert plain_for_citizens["lix"] == 3.0 and plain_for_citizens["readability_warning"] is None
    assert hard_for_staff["readability_warning"] is None  # staff read professional language
    assert [m["readability_warning"] is not None for m in shown] == [True, False, False]


async def test_activities_of_approved_plans_fall_due_once_as_time_moves(database_url: str) -> None:
    app = planning(database_url)
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)  # activities on 5 and 20 January 2016
        draft = await create_approvable_plan(
            client
        )  # never approved: its activities never fall due
        assert (
            await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        ).status_code == 200

        async def due_events() -> list[str]:
            outbox = runtime.outbox
            async with runtime.sessions() as session:
                query = (
                    select(outbox.c.key)
                    .where(outbox.c.type == "activity.due.v1")
                    .order_by(outbox.c.position)
                )
                return list(await session.scalars(query))

        assert await fire_due_activities(runtime, datetime(2016, 1, 1, tzinfo=UTC)) == 0
        assert await fire_due_activities(runtime, datetime(2016, 1, 10, tzinfo=UTC)) == 1
        assert await due_events() == [made["newsletter_activity"]["id"]]
        assert await fire_due_activities(runtime, datetime(2016, 1, 10, tzinfo=UTC)) == 0  # once
        # several replicas at the same moment: each activity still falls due once
        later = datetime(2016, 2, 1, tzinfo=UTC)
        fired = await asyncio.gather(*(fire_due_activities(runtime, later) for _ in range(3)))
        assert sum(fired) == 1
        assert await due_events() == [
            made["newsletter_activity"]["id"],
            made["event_activity"]["id"],
        ]
        assert draft["plan"]["id"] != made["plan"]["id"]


async def test_the_timer_runs_on_the_runtime_clock(database_url: str) -> None:
    """The worker itself, with the clock moved: no sleeping until 2016."""
    app = create_app(
        settings_for(PlanningSettings, database_url, "127.0.0.1:1", due_check_interval_seconds=0.05)
    )
    runtime = runtime_of(app)
    runtime.clock = lambda: datetime(2015, 12, 1, tzinfo=UTC)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        assert (
            await client.post(f"/v1/plans/{made['plan']['id']}/approve", headers=PLANNER)
        ).status_code == 200
        await asyncio.sleep(0.3)
        outbox = runtime.outbox

        async def due_count() -> int:
            async with runtime.sessions() as session:
                return len(
                    list(
                        await session.scalars(
                            select(outbox.c.key).where(outbox.c.type == "activity.due.v1")
                        )
                    )
                )

        assert await due_count() == 0
        runtime.clock = lambda: datetime(2016, 1, 1, tzinfo=UTC) + timedelta(days=30)
        for _ in range(50):
            if await due_count() == 2:
                break
            await asyncio.sleep(0.1)
        assert await due_count() == 2


async def test_a_plan_goes_from_draft_to_review_to_approved_to_closed(database_url: str) -> None:
    app = planning(database_url)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        url = f"/v1/plans/{made['plan']['id']}"
        assert (
            await client.post(f"{url}/close", headers=PLANNER)
        ).status_code == 409  # not approved
        submitted = await client.post(f"{url}/submit", headers=PLANNER)
        assert submitted.status_code == 200 and submitted.json()["status"] == "in_review"
        assert (await client.post(f"{url}/submit", headers=PLANNER)).status_code == 409  # twice
        stale = await client.post(f"{url}/approve", headers={**PLANNER, "If-Match": '"1"'})
        assert stale.status_code == 412
        approved = await client.post(
            f"{url}/approve", headers={**PLANNER, "If-Match": submitted.headers["ETag"]}
        )
        assert approved.status_code == 200, approved.text
        closed = await client.post(f"{url}/close", headers=PLANNER)
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        outbox = runtime_of(app).outbox
        async with runtime_of(app).sessions() as session:
            query = (
                select(outbox.c.type)
                .where(outbox.c.topic == "budskab.plans")
                .order_by(outbox.c.position)
            )
            assert list(await session.scalars(query)) == [
                "plan.submitted.v1",
                "plan.approved.v1",
                "plan.closed.v1",
            ]


async def test_the_calendar_shows_activities_across_plans_as_json_and_ical(
    database_url: str,
) -> None:
    from icalendar import Calendar

    async with serving(planning(database_url)) as client:
        first = await create_approvable_plan(client)
        second = await create_approvable_plan(client)
        january = {
            "starts_from": "2016-01-01T00:00:00+01:00",
            "starts_before": "2016-02-01T00:00:00+01:00",
        }
        everything = (await client.get("/v1/calendar", params=january, headers=PLANNER)).json()
        late_january = (await client.get("/v1/calendar", headers=PLANNER, params={
            **january, "starts_from": "2016-01-10T00:00:00+01:00"})).json()  # fmt: skip
        one_audience = (await client.get("/v1/calendar", headers=PLANNER, params={
            "audience_id": second["audience"]["id"]})).json()  # fmt: skip
        newsletters = (
            await client.get("/v1/calendar", params={"channel": "newsletter"}, headers=PLANNER)
        ).json()
        naive = await client.get(
            "/v1/calendar", params={"starts_from": "2016-01-01T00:00:00"}, headers=PLANNER
        )
        feed = await client.get("/v1/calendar.ics", params=january, headers=PLANNER)
    assert [e["title"] for e in everything] == ["Nyhedsbrev januar"] * 2 + [
        "Velfærdens innovationsdag"
    ] * 2
    assert {e["plan_id"] for e in everything} == {first["plan"]["id"], second["plan"]["id"]}
    assert [e["title"] for e in late_january] == ["Velfærdens innovationsdag"] * 2
    assert {e["plan_id"] for e in one_audience} == {second["plan"]["id"]} and len(one_audience) == 2
    assert (
        len(newsletters) == 4
    )  # every activity of the factory plan goes out on its newsletter channel
    assert naive.status_code == 422
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert sorted(str(e["summary"]) for e in events) == sorted(e["title"] for e in everything)
    assert {str(e["uid"]) for e in events} == {f"{e['activity_id']}@budskab" for e in everything}
    innovation_day = next(e for e in events if str(e["summary"]) == "Velfærdens innovationsdag")
    assert innovation_day.decoded("dtstart") == datetime(2016, 1, 20, 8, tzinfo=UTC)


async def test_stakeholders_who_knows_whom_and_the_dialogue_log(database_url: str) -> None:
    """Aarhus's relationship work on climate adaptation (DOMAIN.md, case D)."""
    async with serving(planning(database_url)) as client:

        async def stakeholder(body: dict) -> dict:
            response = await client.post("/v1/stakeholders", json=body, headers=PLANNER)
            assert response.status_code == 201, response.text
            return response.json()

        sport = await stakeholder({"name": "Sport og Fritid", "organisation": "MKB"})
        school = await stakeholder({"name": "Skoleleder, Skovvangskolen", "organisation": "MBU",
                                    "gatekeeper": "ambassador", "relays_to": "school-district board, parents"})  # fmt: skip
        health = await stakeholder({"name": "Sundhed og Omsorg", "organisation": "MSO"})
        for body in ({"other_id": school["id"], "description": "Share the school's sports halls"},
                     {"other_id": health["id"]}):  # fmt: skip
            assert (
                await client.post(
                    f"/v1/stakeholders/{sport['id']}/relations", json=body, headers=PLANNER
                )
            ).status_code == 204
        to_self = await client.post(
            f"/v1/stakeholders/{sport['id']}/relations",
            json={"other_id": sport["id"]},
            headers=PLANNER,
        )
        unknown = await client.post(
            f"/v1/stakeholders/{sport['id']}/relations",
            json={"other_id": "nobody"},
            headers=PLANNER,
        )
        logged = await client.post(
            f"/v1/stakeholders/{school['id']}/dialogues",
            json={"held_on": "2016-03-02", "participants": "Skoleleder, vandplanlægger",
                  "outcome": "The school wants rain beds in the schoolyard as teaching material",
                  "follow_up": "Visit with the school board", "follow_up_by": "2016-04-01"},
            headers=PLANNER,
        )  # fmt: skip
        school_view = (await client.get(f"/v1/stakeholders/{school['id']}", headers=PLANNER)).json()
        sport_view = (await client.get(f"/v1/stakeholders/{sport['id']}", headers=PLANNER)).json()
        ambassadors = (
            await client.get(
                "/v1/stakeholders", params={"gatekeeper": "ambassador"}, headers=PLANNER
            )
        ).json()
        missing = await client.get("/v1/stakeholders/nobody", headers=PLANNER)
    assert to_self.status_code == 422 and unknown.status_code == 422
    assert logged.status_code == 201 and logged.json()["logged_by"] == "tester"
    assert [r["name"] for r in sport_view["relations"]] == [
        "Skoleleder, Skovvangskolen",
        "Sundhed og Omsorg",
    ]
    assert school_view["relations"] == [
        {
            "stakeholder_id": sport["id"],
            "name": "Sport og Fritid",
            "description": "Share the school's sports halls",
        }
    ]  # the relation reads from both sides
    assert [d["follow_up_by"] for d in school_view["dialogues"]] == ["2016-04-01"]
    assert [s["name"] for s in ambassadors["items"]] == ["Skoleleder, Skovvangskolen"]
    assert missing.status_code == 404


async def test_a_second_plan_reaching_the_same_audience_in_the_same_weeks_shows_the_clash(
    database_url: str,
) -> None:
    async with serving(planning(database_url)) as client:
        first = await create_approvable_plan(client)  # newsletter 5 Jan 2016, theme day 20 Jan
        staff = first["audience"]
        second = await create_plan(client)
        url = f"/v1/plans/{second['id']}"

        async def add(path: str, body: dict) -> dict:
            response = await client.post(f"{url}/{path}", json=body, headers=PLANNER)
            assert response.status_code == 201, response.text
            return response.json()

        linked = await add("audiences", {"audience_id": staff["id"]})  # the same people
        elsewhere = await add("audiences", {"name": "Pressen", "kind": "press"})
        message = await add(
            "messages",
            {"audience_id": staff["id"], "subject": "Arbejdsmiljø", "body": "Nyt om arbejdsmiljø."},
        )
        press_message = await add(
            "messages", {"audience_id": elsewhere["id"], "subject": "Presse", "body": "Fakta."}
        )
        channel = await add("channels", {"kind": "email", "name": "E-mail"})
        clash = await add("activities", {"title": "Arbejdsmiljø-nyhedsbrev", "kind": "communication",
                                         "starts_at": "2016-01-12T08:00:00+01:00", "audience_id": staff["id"],
                                         "message_id": message["id"], "channel_id": channel["id"]})  # fmt: skip
        await add("activities", {"title": "Pressemeddelelse", "kind": "communication",
                                 "starts_at": "2016-01-12T08:00:00+01:00", "audience_id": elsewhere["id"],
                                 "message_id": press_message["id"], "channel_id": channel["id"]})  # fmt: skip
        await add("activities", {"title": "Sommerhilsen", "kind": "communication",
                                 "starts_at": "2016-06-20T08:00:00+02:00", "audience_id": staff["id"],
                                 "message_id": message["id"], "channel_id": channel["id"]})  # fmt: skip
        twice = await client.post(
            f"{url}/audiences", json={"audience_id": staff["id"]}, headers=PLANNER
        )
        detail = (await client.get(url, headers=PLANNER)).json()
        first_view = (await client.get(f"/v1/plans/{first['plan']['id']}", headers=PLANNER)).json()
        listed = (await client.get("/v1/audiences", headers=PLANNER)).json()
    assert linked["id"] == staff["id"] and twice.status_code == 409
    assert [
        (o["activity_id"], o["other_activity_title"], o["days_apart"]) for o in detail["overlaps"]
    ] == [
        (clash["id"], "Nyhedsbrev januar", 7.0),
        (clash["id"], "Velfærdens innovationsdag", 8.0),
    ]  # the press release (another audience) and June's greeting (months later) do not clash
    assert {o["other_plan_id"] for o in detail["overlaps"]} == {first["plan"]["id"]}
    assert len(first_view["overlaps"]) == 2  # seen from the first plan too
    assert {a["name"] for a in listed["items"]} == {"Kommunale medarbejdere", "Pressen"}


async def test_changing_an_approved_plan_is_a_recorded_deviation(database_url: str) -> None:
    app = planning(database_url)
    runtime = runtime_of(app)
    runtime.workers.clear()  # no due timer: this test counts the events it causes
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        url = f"/v1/plans/{made['plan']['id']}"
        newsletter, theme_day = made["newsletter_activity"]["id"], made["event_activity"]["id"]
        # in a draft, moving an activity is just planning
        moved = await client.post(f"{url}/activities/{newsletter}/reschedule",
                                  json={"starts_at": "2016-01-06T08:00:00+01:00"}, headers=PLANNER)  # fmt: skip
        assert moved.status_code == 200, moved.text
        assert (await client.post(f"{url}/approve", headers=PLANNER)).status_code == 200

        unagreed = await client.post(f"{url}/activities/{theme_day}/reschedule",
                                     json={"starts_at": "2016-02-03T09:00:00+01:00"}, headers=PLANNER)  # fmt: skip
        agreed = await client.post(f"{url}/activities/{theme_day}/reschedule", headers=PLANNER, json={
            "starts_at": "2016-02-03T09:00:00+01:00", "reason": "Mandag Morgen's venue is taken",
            "agreed_by": "Direktionen"})  # fmt: skip
        cancelled = await client.post(f"{url}/activities/{newsletter}/cancel", headers=PLANNER, json={
            "reason": "Merged into the February issue", "agreed_by": "Kommunikationschefen"})  # fmt: skip
        again = await client.post(f"{url}/activities/{newsletter}/cancel", headers=PLANNER, json={
            "reason": "x", "agreed_by": "y"})  # fmt: skip
        detail = (await client.get(url, headers=PLANNER)).json()
        calendar = (
            await client.get(
                "/v1/calendar", params={"plan_id": made["plan"]["id"]}, headers=PLANNER
            )
        ).json()
        outbox = runtime.outbox
        async with runtime.sessions() as session:
            published = list(await session.scalars(
                select(outbox.c.type).where(outbox.c.type != "activity.approved.v1").order_by(outbox.c.position)))  # fmt: skip
    assert unagreed.status_code == 422
    assert {e["field"] for e in unagreed.json()["errors"]} == {"reason", "agreed_by"}
    assert agreed.status_code == 200
    assert datetime.fromisoformat(agreed.json()["starts_at"]) == datetime(2016, 2, 3, 8, tzinfo=UTC)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"] is not None
    assert again.status_code == 409
    assert [(d["change"], d["agreed_by"]) for d in detail["deviations"]] == [
        ("rescheduled", "Direktionen"), ("cancelled", "Kommunikationschefen")]  # fmt: skip
    assert detail["deviations"][0]["before"].startswith("2016-01-20T08:00:00")
    assert [e["title"] for e in calendar] == [
        "Velfærdens innovationsdag"
    ]  # the cancelled one is gone
    assert published == [
        "plan.approved.v1",
        "deviation.recorded.v1", "activity.rescheduled.v1", "plan.revised.v1",
        "deviation.recorded.v1", "activity.cancelled.v1", "plan.revised.v1",
    ]  # fmt: skip
