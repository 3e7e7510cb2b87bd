"""Planning's rules through its API and its durable timer, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from scripts.stack import Tansu
from services.planning.app import create_app
from services.planning.settings import PlanningSettings
from services.planning.tables import PlanVersion
from services.planning.timers import activate_plans, fire_due_activities
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.metrics import KpiMeasured
from tests.api import assert_problem
from tests.factories import PLANNER, create_approvable_plan, create_plan
from tests.helpers import eventually, produce, runtime_of, serving, settings_for
from tests.services import planning_app

pytestmark = pytest.mark.integration

OFFICIALESE = (
    "Kommunalbestyrelsens beslutningsgrundlag vedrørende implementeringen af "
    "velfærdsteknologiske løsninger forudsætter tværorganisatorisk koordinering."
)


async def test_a_plan_without_a_goal_is_not_approved(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        plan = await create_plan(client)
        response = await client.post(f"/v1/plans/{plan['id']}/approve", headers=PLANNER)
    assert response.status_code == 422
    assert {
        "field": "goals",
        "message": "a plan needs at least one measurable goal",
    } in response.json()["errors"]


async def test_messages_to_citizens_are_checked_for_plain_language(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
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
    app = planning_app(database_url)
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
    app = planning_app(database_url)
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

    async with serving(planning_app(database_url)) as client:
        first = await create_approvable_plan(client)
        second = await create_approvable_plan(client)
        january = {
            "starts_from": "2016-01-01T00:00:00+01:00",
            "starts_before": "2016-02-01T00:00:00+01:00",
        }
        everything = (await client.get("/v1/calendar", params=january, headers=PLANNER)).json()
        late_january = (
            await client.get(
                "/v1/calendar",
                headers=PLANNER,
                params={**january, "starts_from": "2016-01-10T00:00:00+01:00"},
            )
        ).json()
        one_audience = (
            await client.get(
                "/v1/calendar", headers=PLANNER, params={"audience_id": second["audience"]["id"]}
            )
        ).json()
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
    async with serving(planning_app(database_url)) as client:

        async def stakeholder(body: dict) -> dict:
            response = await client.post("/v1/stakeholders", json=body, headers=PLANNER)
            assert response.status_code == 201, response.text
            return response.json()

        sport = await stakeholder({"name": "Sport og Fritid", "organisation": "MKB"})
        school = await stakeholder(
            {
                "name": "Skoleleder, Skovvangskolen",
                "organisation": "MBU",
                "gatekeeper": "ambassador",
                "relays_to": "school-district board, parents",
            }
        )
        health = await stakeholder({"name": "Sundhed og Omsorg", "organisation": "MSO"})
        for body in (
            {"other_id": school["id"], "description": "Share the school's sports halls"},
            {"other_id": health["id"]},
        ):
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
            json={
                "held_on": "2016-03-02",
                "participants": "Skoleleder, vandplanlægger",
                "outcome": "The school wants rain beds in the schoolyard as teaching material",
                "follow_up": "Visit with the school board",
                "follow_up_by": "2016-04-01",
            },
            headers=PLANNER,
        )
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
    async with serving(planning_app(database_url)) as client:
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
        clash = await add(
            "activities",
            {
                "title": "Arbejdsmiljø-nyhedsbrev",
                "kind": "communication",
                "starts_at": "2016-01-12T08:00:00+01:00",
                "audience_id": staff["id"],
                "message_id": message["id"],
                "channel_id": channel["id"],
            },
        )
        await add(
            "activities",
            {
                "title": "Pressemeddelelse",
                "kind": "communication",
                "starts_at": "2016-01-12T08:00:00+01:00",
                "audience_id": elsewhere["id"],
                "message_id": press_message["id"],
                "channel_id": channel["id"],
            },
        )
        await add(
            "activities",
            {
                "title": "Sommerhilsen",
                "kind": "communication",
                "starts_at": "2016-06-20T08:00:00+02:00",
                "audience_id": staff["id"],
                "message_id": message["id"],
                "channel_id": channel["id"],
            },
        )
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
    app = planning_app(database_url)
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        url = f"/v1/plans/{made['plan']['id']}"
        newsletter, theme_day = made["newsletter_activity"]["id"], made["event_activity"]["id"]
        # in a draft, moving an activity is just planning
        moved = await client.post(
            f"{url}/activities/{newsletter}/reschedule",
            json={"starts_at": "2016-01-06T08:00:00+01:00"},
            headers=PLANNER,
        )
        assert moved.status_code == 200, moved.text
        assert (await client.post(f"{url}/approve", headers=PLANNER)).status_code == 200

        unagreed = await client.post(
            f"{url}/activities/{theme_day}/reschedule",
            json={"starts_at": "2016-02-03T09:00:00+01:00"},
            headers=PLANNER,
        )
        same_time = await client.post(
            f"{url}/activities/{theme_day}/reschedule",
            headers=PLANNER,
            json={
                "starts_at": made["event_activity"]["starts_at"],
                "reason": "x",
                "agreed_by": "y",
            },
        )
        agreed = await client.post(
            f"{url}/activities/{theme_day}/reschedule",
            headers=PLANNER,
            json={
                "starts_at": "2016-02-03T09:00:00+01:00",
                "reason": "Mandag Morgen's venue is taken",
                "agreed_by": "Direktionen",
            },
        )
        cancelled = await client.post(
            f"{url}/activities/{newsletter}/cancel",
            headers=PLANNER,
            json={"reason": "Merged into the February issue", "agreed_by": "Kommunikationschefen"},
        )
        again = await client.post(
            f"{url}/activities/{newsletter}/cancel",
            headers=PLANNER,
            json={"reason": "x", "agreed_by": "y"},
        )
        detail = (await client.get(url, headers=PLANNER)).json()
        calendar = (
            await client.get(
                "/v1/calendar", params={"plan_id": made["plan"]["id"]}, headers=PLANNER
            )
        ).json()
        outbox = runtime.outbox
        async with runtime.sessions() as session:
            published = list(
                await session.scalars(
                    select(outbox.c.type)
                    .where(outbox.c.type != "activity.approved.v1")
                    .order_by(outbox.c.position)
                )
            )
    assert unagreed.status_code == 422
    assert_problem(same_time, 422)  # moving it to where it is changes nothing: no deviation
    assert {e["field"] for e in unagreed.json()["errors"]} == {"reason", "agreed_by"}
    assert agreed.status_code == 200
    assert datetime.fromisoformat(agreed.json()["starts_at"]) == datetime(2016, 2, 3, 8, tzinfo=UTC)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled_at"] is not None
    assert again.status_code == 409
    assert [(d["change"], d["agreed_by"]) for d in detail["deviations"]] == [
        ("rescheduled", "Direktionen"),
        ("cancelled", "Kommunikationschefen"),
    ]
    assert detail["deviations"][0]["before"].startswith("2016-01-20T08:00:00")
    assert [e["title"] for e in calendar] == [
        "Velfærdens innovationsdag"
    ]  # the cancelled one is gone
    assert published == [
        "plan.approved.v1",
        "deviation.recorded.v1",
        "activity.rescheduled.v1",
        "plan.revised.v1",
        "deviation.recorded.v1",
        "activity.cancelled.v1",
        "plan.revised.v1",
    ]


async def published(runtime, event_type: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The payloads of `event_type` in the outbox, in the order they were written."""
    outbox = runtime.outbox
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(outbox.c.payload).where(outbox.c.type == event_type).order_by(outbox.c.position)
        )
        return [json.loads(row)["data"] for row in rows]


async def test_every_change_is_a_version_and_two_versions_can_be_compared(
    database_url: str,
) -> None:
    async with serving(planning_app(database_url)) as client:
        plan = await create_plan(client)
        url = f"/v1/plans/{plan['id']}"
        await client.post(
            f"{url}/goals",
            headers=PLANNER,
            json={
                "description": "Debatoplægget når 10.000 læsere",
                "metric": "readers",
                "target": 10000,
                "unit": "readers",
            },
        )
        await client.post(
            f"{url}/audiences", json={"name": "Byrådet", "kind": "politicians"}, headers=PLANNER
        )
        renamed = await client.patch(
            url,
            headers=PLANNER,
            json={
                "title": "Kommune forfra – Aarhus gentænker velfærden",
                "period_start": "2015-08-17",
                "period_end": "2017-12-31",
            },
        )
        empty = await client.patch(url, json={}, headers=PLANNER)
        null_title = await client.patch(url, json={"title": None}, headers=PLANNER)
        versions = (await client.get(f"{url}/versions", headers=PLANNER)).json()
        first = (await client.get(f"{url}/versions/1", headers=PLANNER)).json()
        diff = (
            await client.get(
                f"{url}/diff", params={"from_version": 1, "to_version": 4}, headers=PLANNER
            )
        ).json()
        missing = await client.get(f"{url}/versions/9", headers=PLANNER)
        unknown = await client.get("/v1/plans/nope/versions", headers=PLANNER)
    assert renamed.status_code == 200 and renamed.headers["etag"] == '"4"', renamed.text
    assert_problem(empty, 422)
    assert_problem(null_title, 422)
    assert [(v["version"], v["change"].split(":")[0]) for v in versions["items"]] == [
        (1, "created"),
        (2, "goal added"),
        (3, "audience added"),
        (
            4,
            "updated title=Kommune forfra – Aarhus gentænker velfærden, period_start=2015-08-17, "
            "period_end=2017-12-31",
        ),
    ]
    assert {v["changed_by"] for v in versions["items"]} == {"tester"}
    assert first["snapshot"]["title"] == "Kommune forfra" and first["snapshot"]["goals"] == []
    assert diff["fields"] == {
        "period_end": {"before": None, "after": "2017-12-31"},
        "period_start": {"before": None, "after": "2015-08-17"},
        "title": {
            "before": "Kommune forfra",
            "after": "Kommune forfra – Aarhus gentænker velfærden",
        },
    }
    assert [g["metric"] for g in diff["parts"]["goals"]["added"]] == ["readers"]
    assert [a["name"] for a in diff["parts"]["audiences"]["added"]] == ["Byrådet"]
    assert diff["parts"]["activities"] == {"added": [], "removed": [], "changed": []}
    assert_problem(missing, 404)
    assert_problem(unknown, 404)


async def test_an_approved_plan_revised_with_agreement_is_published_as_revised(
    database_url: str,
) -> None:
    app = planning_app(database_url)
    runtime = runtime_of(app)
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        url = f"/v1/plans/{made['plan']['id']}"
        assert (await client.post(f"{url}/approve", headers=PLANNER)).status_code == 200
        agreed = {"reason": "Rethink 2017 is added by the city council", "agreed_by": "Magistraten"}
        incomplete = await client.post(
            f"{url}/activities",
            headers=PLANNER,
            json={
                "title": "Rethink-konferencen",
                "kind": "event",
                "starts_at": "2017-05-10T09:00:00+02:00",
                **agreed,
            },
        )
        added = await client.post(
            f"{url}/activities",
            headers=PLANNER,
            json={
                "title": "Rethink-konferencen",
                "kind": "event",
                "starts_at": "2017-05-10T09:00:00+02:00",
                "audience_id": made["audience"]["id"],
                "message_id": made["message"]["id"],
                "channel_id": made["channel"]["id"],
                "event": {"format": "conference", "capacity": 500},
                **agreed,
            },
        )
        moved_sender = await client.patch(
            url, headers=PLANNER, json={"sender": "Magistraten", **agreed}
        )
        unchanged = await client.patch(
            url, headers=PLANNER, json={"sender": "Magistraten", **agreed}
        )
        revised = await published(runtime, "plan.revised.v1")
        approved = await published(runtime, "activity.approved.v1")
        deviations = await published(runtime, "deviation.recorded.v1")
    assert_problem(incomplete, 422)
    assert {e["field"] for e in incomplete.json()["errors"]} == {
        "audience_id",
        "message_id",
        "channel_id",
        "event",
    }
    assert added.status_code == 201 and moved_sender.status_code == 200, moved_sender.text
    assert_problem(unchanged, 422)  # the same value again is no change, and no deviation
    assert [(r["version"], r["change"], r["agreed_by"]) for r in revised] == [
        (9, "activity added: Rethink-konferencen", "Magistraten"),
        (10, "updated sender=Magistraten", "Magistraten"),
    ]
    assert (
        len(revised[0]["activity_ids"]) == 3 and revised[0]["goals"][0]["metric"] == "registrations"
    )
    assert approved[-1]["title"] == "Rethink-konferencen"  # downstream services act on it
    # the new activity is a deviation of its own; a change to the plan itself is plan.revised.v1
    assert [(d["change"], d["activity_id"]) for d in deviations] == [
        ("activity_added", added.json()["id"])
    ]


async def test_activities_have_an_owner_partners_and_may_recur(database_url: str) -> None:
    app = planning_app(database_url)
    runtime = runtime_of(app)
    async with serving(app) as client:
        partners = [
            (await client.post("/v1/partners", json=body, headers=PLANNER)).json()
            for body in ({"name": "Mandag Morgen", "kind": "think-tank"}, {"name": "KL"})
        ]
        made = await create_approvable_plan(client)
        url = f"/v1/plans/{made['plan']['id']}"
        refs = {
            "audience_id": made["audience"]["id"],
            "message_id": made["message"]["id"],
            "channel_id": made["channel"]["id"],
        }
        monthly = {
            "title": "Ledernyt fra direktionen",
            "kind": "communication",
            "owner": "Direktionen",
            "starts_at": "2016-01-04T09:00:00+01:00",
            "recurrence": "FREQ=MONTHLY;COUNT=3",
            "partner_ids": [p["id"] for p in partners],
            **refs,
        }
        added = await client.post(f"{url}/activities", json=monthly, headers=PLANNER)
        endless = await client.post(
            f"{url}/activities", headers=PLANNER, json={**monthly, "recurrence": "FREQ=MONTHLY"}
        )
        garbled = await client.post(
            f"{url}/activities",
            headers=PLANNER,
            json={**monthly, "recurrence": "FREQ=FORTNIGHTLY;COUNT=2"},
        )
        stranger = await client.post(
            f"{url}/activities", headers=PLANNER, json={**monthly, "partner_ids": ["nobody"]}
        )
        listed = (await client.get("/v1/partners", headers=PLANNER)).json()
        calendar = (
            await client.get(
                "/v1/calendar",
                headers=PLANNER,
                params={
                    "starts_from": "2016-01-01T00:00:00Z",
                    "starts_before": "2016-03-01T00:00:00Z",
                },
            )
        ).json()
        ical = (await client.get("/v1/calendar.ics", headers=PLANNER)).text
        assert (await client.post(f"{url}/approve", headers=PLANNER)).status_code == 200
        fired = [await fire_due_activities(runtime, datetime(2016, 1, 4, 12, tzinfo=UTC))]
        await activate_plans(runtime, datetime(2016, 1, 4, 12, tzinfo=UTC))
        status = (await client.get(url, headers=PLANNER)).json()["status"]
        for _ in range(2):  # catching up: every occurrence that has come, at once
            fired.append(await fire_due_activities(runtime, datetime(2016, 6, 1, tzinfo=UTC)))
        due = await published(runtime, "activity.due.v1")
        activated = await published(runtime, "plan.activated.v1")
        approved = await published(runtime, "activity.approved.v1")
        detail = (await client.get(url, headers=PLANNER)).json()
    assert added.status_code == 201, added.text
    assert added.json()["owner"] == "Direktionen"
    assert [p["name"] for p in added.json()["partners"]] == ["Mandag Morgen", "KL"]
    assert_problem(endless, 422)
    assert endless.json()["errors"] == [
        {"field": "recurrence", "message": "give COUNT or UNTIL (one of them)"}
    ]
    assert_problem(garbled, 422)
    assert_problem(stranger, 422)
    assert stranger.json()["errors"] == [{"field": "partner_ids[0]", "message": "no such partner"}]
    assert {p["name"] for p in listed["items"]} == {"Mandag Morgen", "KL"}
    assert [(e["title"], e["starts_at"][:10]) for e in calendar] == [
        ("Ledernyt fra direktionen", "2016-01-04"),
        ("Nyhedsbrev januar", "2016-01-05"),
        ("Velfærdens innovationsdag", "2016-01-20"),
        ("Ledernyt fra direktionen", "2016-02-04"),
    ]
    assert ical.count(f"UID:{added.json()['id']}-") == 3  # one event per occurrence
    assert status == "active"  # the first activity fell due
    assert [a["plan_id"] for a in activated] == [made["plan"]["id"]]
    assert fired == [1, 4, 0]
    ledernyt = [d["starts_at"][:10] for d in due if d["activity_id"] == added.json()["id"]]
    assert ledernyt == ["2016-01-04", "2016-02-04", "2016-03-04"]  # each occurrence, once
    assert {a["title"]: (a["owner"], a["partners"], a["recurrence"]) for a in approved}[
        "Ledernyt fra direktionen"
    ] == ("Direktionen", ["Mandag Morgen", "KL"], "FREQ=MONTHLY;COUNT=3")
    assert [a["next_due_at"] for a in detail["activities"]] == [None, None, None]


async def test_measured_kpis_show_next_to_their_goals(database_url: str, broker: Tansu) -> None:
    app = create_app(settings_for(PlanningSettings, database_url, broker.bootstrap))
    async with serving(app) as client:
        made = await create_approvable_plan(client)
        plan_id, goal = made["plan"]["id"], made["goal"]

        def measured(value: float, day: int) -> tuple[bytes, bytes]:
            data = KpiMeasured(
                plan_id=plan_id,
                goal_id=goal["id"],
                metric=goal["metric"],
                value=value,
                target=goal["target"],
                unit=goal["unit"],
                measured_at=datetime(2016, 1, day, tzinfo=UTC),
                source="reported",
            )
            envelope = new_envelope(
                data, source="/budskab/metrics", subject=plan_id, correlation_id="c"
            )
            return plan_id.encode(), envelope.model_dump_json().encode()

        async def shown() -> dict:
            return (await client.get(f"/v1/plans/{plan_id}", headers=PLANNER)).json()["goals"][0]

        before = await shown()
        await produce(broker.bootstrap, topics.KPIS, [measured(312, 21), measured(150, 10)])
        after = await eventually(shown, until=lambda g: g["measured_value"] is not None)
        await asyncio.sleep(1)  # the older measurement, delivered later, must not win
        final = await shown()
    assert (before["measured_value"], before["attained"]) == (None, None)
    assert after["measured_value"] == 312 and after["attained"] is True
    assert final == after and final["measured_source"] == "reported"


async def test_an_activity_through_a_channel_its_audience_does_not_prefer_is_flagged(
    database_url: str,
) -> None:
    async with serving(planning_app(database_url)) as client:
        plan = await create_plan(client)
        url = f"/v1/plans/{plan['id']}"

        async def add(path: str, body: dict) -> dict:
            response = await client.post(f"{url}/{path}", json=body, headers=PLANNER)
            assert response.status_code == 201, response.text
            return response.json()

        staff = await add(
            "audiences",
            {
                "name": "Jobcentermedarbejdere",
                "kind": "staff",
                "preferred_channels": ["newsletter", "intranet"],
            },
        )
        press = await add("audiences", {"name": "Pressen", "kind": "press"})  # no preference given
        message = await add(
            "messages",
            {"audience_id": staff["id"], "subject": "Tendens", "body": "Nyt fra regionen."},
        )
        letter = await add("channels", {"kind": "letter", "name": "Brev"})
        tendens = await add("channels", {"kind": "newsletter", "name": "Tendens"})
        for title, channel in (("Brev til jobcentrene", letter), ("Tendens nr. 1", tendens)):
            await add(
                "activities",
                {
                    "title": title,
                    "kind": "communication",
                    "audience_id": staff["id"],
                    "message_id": message["id"],
                    "channel_id": channel["id"],
                    "starts_at": "2015-02-02T08:00:00+01:00",
                },
            )
        await add(
            "activities",
            {
                "title": "Pressemeddelelse",
                "kind": "communication",
                "audience_id": press["id"],
                "channel_id": letter["id"],
                "starts_at": "2015-02-02T08:00:00+01:00",
            },
        )
        bad = await client.post(
            f"{url}/audiences",
            headers=PLANNER,
            json={"name": "X", "preferred_channels": ["carrier_pigeon"]},
        )
        detail = (await client.get(url, headers=PLANNER)).json()
    assert staff["preferred_channels"] == ["newsletter", "intranet"]
    assert [(a["title"], a["channel_warning"]) for a in detail["activities"]] == [
        (
            "Brev til jobcentrene",
            "Jobcentermedarbejdere prefer newsletter, intranet; letter is not one of them",
        ),
        ("Tendens nr. 1", None),
        ("Pressemeddelelse", None),
    ]
    assert_problem(bad, 422)


async def test_a_plan_made_before_versions_were_kept_starts_its_history_at_its_next_change(
    database_url: str,
) -> None:
    app = planning_app(database_url)
    runtime = runtime_of(app)
    async with serving(app) as client:
        draft, approved = await create_plan(client), await create_approvable_plan(client)
        url = f"/v1/plans/{draft['id']}"
        assert (
            await client.post(f"/v1/plans/{approved['plan']['id']}/approve", headers=PLANNER)
        ).status_code == 200
        async with runtime.sessions.begin() as session:  # as an upgraded database has them
            await session.execute(delete(PlanVersion))
        changed = await client.patch(url, json={"sender": "Magistraten"}, headers=PLANNER)
        versions = (await client.get(f"{url}/versions", headers=PLANNER)).json()
        diff = (
            await client.get(
                f"{url}/diff", params={"from_version": 1, "to_version": 2}, headers=PLANNER
            )
        ).json()
        await fire_due_activities(runtime, datetime(2016, 2, 1, tzinfo=UTC))
        await activate_plans(runtime, datetime(2016, 2, 1, tzinfo=UTC))  # the timer changes it
        activated = (
            await client.get(f"/v1/plans/{approved['plan']['id']}/versions", headers=PLANNER)
        ).json()
    assert changed.status_code == 200, changed.text
    assert [(v["version"], v["change"]) for v in versions["items"]] == [
        (1, "as it was when versions began"),
        (2, "updated sender=Magistraten"),
    ]
    assert diff["fields"] == {"sender": {"before": "Aarhus Kommune", "after": "Magistraten"}}
    assert [v["change"] for v in activated["items"]] == [
        "as it was when versions began",
        "status: active (an activity fell due)",
    ]
