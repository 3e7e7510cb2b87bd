"""Strategies through the planning API, with Silkeborg's strategy plan (DOMAIN.md, case C), on
SQLite and PostgreSQL: the tree, the versioned action plan and its diff, and plans on tracks."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, expect

from scripts.demo_data import (
    ACTION_PLAN_2013,
    ACTION_PLAN_2014,
    SILKEBORG,
    SILKEBORG_TRACK,
    action_plan,
)
from scripts.stack import Tansu
from services.planning.app import create_app
from services.planning.settings import PlanningSettings
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.metrics import KpiMeasured
from tests.api import assert_problem
from tests.factories import PLANNER, create_approvable_plan
from tests.helpers import (
    auth,
    eventually,
    listening,
    path_of,
    produce,
    serving,
    settings_for,
)
from tests.planning_world import all_nodes, node
from tests.services import planning_app

pytestmark = pytest.mark.integration


async def create_silkeborg(client: httpx.AsyncClient) -> dict:
    response = await client.post("/v1/strategies", json=SILKEBORG, headers=PLANNER)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_strategy_holds_focus_areas_tracks_and_sub_tracks(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        created = await create_silkeborg(client)
        fetched = (await client.get(f"/v1/strategies/{created['id']}", headers=PLANNER)).json()
        listed = (await client.get("/v1/strategies", headers=PLANNER)).json()
    assert fetched == created
    assert fetched["values"] == ["Dialog", "Dynamik", "Kvalitet", "Sammenhæng"]
    assert [f["name"] for f in fetched["focus_areas"]][-1] == "Strategisk kommunikation"
    communication = fetched["focus_areas"][-1]
    assert [(t["name"], t["level"], len(t["children"])) for t in communication["children"]] == [
        ("Kommunikations-Mestring", "track", 3),
        ("Borgerdialog og borgerinddragelse", "track", 3),
        ("Organisatorisk branding", "track", 4),
    ]
    assert {s["level"] for t in communication["children"] for s in t["children"]} == {"sub_track"}
    assert communication["level"] == "focus_area" and communication["parent_id"] is None
    assert fetched["action_plan_version"] is None
    assert [s["id"] for s in listed["items"]] == [created["id"]]


async def test_nodes_are_added_under_their_parent_down_to_sub_tracks(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        strategy = await create_silkeborg(client)
        url = f"/v1/strategies/{strategy['id']}/nodes"
        branding = node(strategy, "Organisatorisk branding")
        added = await client.post(
            url, json={"parent_id": branding["id"], "name": "Sociale medier"}, headers=PLANNER
        )
        too_deep = await client.post(
            url, json={"parent_id": added.json()["id"], "name": "LinkedIn"}, headers=PLANNER
        )
        other = await client.post(
            "/v1/strategies",
            headers=PLANNER,
            json={**SILKEBORG, "name": "Kanalstrategi", "focus_areas": []},
        )
        elsewhere = await client.post(
            f"/v1/strategies/{other.json()['id']}/nodes",
            json={"parent_id": branding["id"], "name": "X"},
            headers=PLANNER,
        )
        focus_area = await client.post(url, json={"name": "Sundhed"}, headers=PLANNER)
        as_viewer = await client.post(url, json={"name": "Y"}, headers=auth("viewer"))
        unknown = await client.post(
            "/v1/strategies/nope/nodes", json={"name": "Y"}, headers=PLANNER
        )
        fetched = (await client.get(f"/v1/strategies/{strategy['id']}", headers=PLANNER)).json()
    assert added.status_code == 201 and added.json()["level"] == "sub_track"
    assert_problem(too_deep, 422)
    assert too_deep.json()["errors"] == [
        {"field": "parent_id", "message": "a sub-track cannot have children"}
    ]
    assert_problem(elsewhere, 422)
    assert focus_area.status_code == 201 and focus_area.json()["level"] == "focus_area"
    assert_problem(as_viewer, 403)
    assert_problem(unknown, 404)
    assert "Sociale medier" in [
        s["name"] for s in node(fetched, "Organisatorisk branding")["children"]
    ]
    assert fetched["focus_areas"][-1]["name"] == "Sundhed"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2014-12-31", "2013-01-01", "must be after period_start"),
        ("2013-01-01", "2019-01-01", "a strategy runs at most 5 years"),
    ],
)
async def test_a_strategy_period_must_make_sense(
    database_url: str, start: str, end: str, message: str
) -> None:
    async with serving(planning_app(database_url)) as client:
        response = await client.post(
            "/v1/strategies",
            headers=PLANNER,
            json={**SILKEBORG, "period_start": start, "period_end": end},
        )
        listed = (await client.get("/v1/strategies", headers=PLANNER)).json()
    assert_problem(response, 422)
    assert response.json()["errors"] == [{"field": "period_end", "message": message}]
    assert listed["total"] == 0


async def test_each_action_plan_revision_is_a_version_with_a_diff(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        strategy = await create_silkeborg(client)
        url = f"/v1/strategies/{strategy['id']}/action-plan"
        first = await client.post(
            f"{url}/versions",
            headers={**PLANNER, "If-Match": '"0"'},
            json=action_plan(strategy, 2013, ACTION_PLAN_2013, "Første år"),
        )
        second = await client.post(
            f"{url}/versions",
            headers={**PLANNER, "If-Match": first.headers["etag"]},
            json=action_plan(strategy, 2014, ACTION_PLAN_2014, "Revideret efter målingerne 2013"),
        )
        stale = await client.post(
            f"{url}/versions",
            headers={**PLANNER, "If-Match": '"1"'},
            json=action_plan(strategy, 2014, ACTION_PLAN_2014, "Igen"),
        )
        current = await client.get(url, headers=PLANNER)
        versions = (await client.get(f"{url}/versions", headers=PLANNER)).json()
        old = (await client.get(f"{url}/versions/1", headers=PLANNER)).json()
        diff = (
            await client.get(
                f"{url}/diff", params={"from_version": 1, "to_version": 2}, headers=PLANNER
            )
        ).json()
        missing = await client.get(f"{url}/versions/3", headers=PLANNER)
        detail = (await client.get(f"/v1/strategies/{strategy['id']}", headers=PLANNER)).json()
    assert first.status_code == 201 and first.json()["version"] == 1, first.text
    assert second.status_code == 201 and second.json()["version"] == 2, second.text
    assert second.headers["location"].endswith("/action-plan/versions/2")
    assert_problem(stale, 412)
    assert current.json()["version"] == 2 and current.json()["year"] == 2014
    assert current.headers["etag"] == '"2"' and detail["action_plan_version"] == 2
    assert [(v["version"], v["year"], v["revised_by"]) for v in versions] == [
        (1, 2013, "tester"),
        (2, 2014, "tester"),
    ]
    assert len(old["items"]) == 5 and old["note"] == "Første år"  # kept as it was
    assert [i["initiative"] for i in diff["added"]] == [
        "Kampagne: arbejdspladsen Silkeborg Kommune"
    ]
    assert [i["initiative"] for i in diff["removed"]] == ["Tema- og gå-hjem-møder om innovation"]
    assert [(c["item"]["initiative"], c["fields"]) for c in diff["changed"]] == [
        (
            "Kursus i lederkommunikation",
            {
                "success_criterion": {
                    "before": "Alle chefer har deltaget",
                    "after": "Alle nye chefer inden for et halvt år",
                }
            },
        ),
    ]
    assert_problem(missing, 404)


async def test_an_action_plan_names_only_its_own_tracks_and_years(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        strategy = await create_silkeborg(client)
        url = f"/v1/strategies/{strategy['id']}/action-plan/versions"
        revision = action_plan(strategy, 2013, ACTION_PLAN_2013, "")
        late = await client.post(url, json={**revision, "year": 2016}, headers=PLANNER)
        foreign = await client.post(
            url,
            headers=PLANNER,
            json={**revision, "items": [{"track_id": "not-a-track", "initiative": "X"}]},
        )
        twice = await client.post(
            url,
            headers=PLANNER,
            json={**revision, "items": revision["items"] + revision["items"][:1]},
        )
        none_yet = await client.get(f"/v1/strategies/{strategy['id']}/action-plan", headers=PLANNER)
    assert_problem(late, 422)
    assert late.json()["errors"] == [{"field": "year", "message": "outside the strategy's period"}]
    assert_problem(foreign, 422)
    assert foreign.json()["errors"] == [
        {"field": "items[0].track_id", "message": "not in this strategy"}
    ]
    assert_problem(twice, 422)
    assert twice.json()["errors"][0]["field"] == "items[5].initiative"
    assert_problem(none_yet, 404)


async def test_plans_serve_a_track_and_the_calendar_filters_by_it(database_url: str) -> None:
    async with serving(planning_app(database_url)) as client:
        strategy = await create_silkeborg(client)
        dialogue = node(strategy, "Borgerdialog og borgerinddragelse")
        concepts = node(
            strategy, "Kommunikationskoncepter i forbindelse med borgerdialog og borgerinddragelse"
        )
        on_sub_track = await create_approvable_plan(client)
        elsewhere = await create_approvable_plan(client)
        linked = await client.patch(
            f"/v1/plans/{on_sub_track['plan']['id']}",
            headers=PLANNER,
            json={
                "track_id": concepts["id"],
                "period_start": "2015-09-01",
                "period_end": "2016-06-30",
            },
        )
        to_focus_area = await client.patch(
            f"/v1/plans/{elsewhere['plan']['id']}",
            headers=PLANNER,
            json={"track_id": strategy["focus_areas"][0]["id"]},
        )
        backwards = await client.patch(
            f"/v1/plans/{elsewhere['plan']['id']}",
            headers=PLANNER,
            json={"period_start": "2016-01-01", "period_end": "2015-01-01"},
        )
        by_track = (
            await client.get("/v1/calendar", params={"track_id": dialogue["id"]}, headers=PLANNER)
        ).json()
        everything = (await client.get("/v1/calendar", headers=PLANNER)).json()
    assert linked.status_code == 200, linked.text
    assert (
        linked.json()["track_id"] == concepts["id"] and linked.json()["period_end"] == "2016-06-30"
    )
    assert_problem(to_focus_area, 422)
    assert to_focus_area.json()["errors"] == [
        {"field": "track_id", "message": "no such track or sub-track"}
    ]
    assert_problem(backwards, 422)
    assert {e["plan_id"] for e in by_track} == {on_sub_track["plan"]["id"]}  # the track's subtree
    assert len(by_track) == 2 and len(everything) == 4


async def test_a_tree_too_deep_names_the_node(database_url: str) -> None:
    deep = {
        **SILKEBORG,
        "focus_areas": [
            {
                "name": "Strategisk kommunikation",
                "children": [
                    {
                        "name": "Organisatorisk branding",
                        "children": [
                            {"name": "Employer Branding", "children": [{"name": "LinkedIn"}]}
                        ],
                    }
                ],
            }
        ],
    }
    async with serving(planning_app(database_url)) as client:
        response = await client.post("/v1/strategies", json=deep, headers=PLANNER)
        listed = (await client.get("/v1/strategies", headers=PLANNER)).json()
    assert_problem(response, 422)
    assert response.json()["errors"] == [
        {
            "field": "focus_areas[0].children[0].children[0].children[0]",
            "message": "sub-tracks cannot have children",
        }
    ]
    assert listed["total"] == 0


async def test_a_year_of_the_strategy_is_reported_node_by_node(
    database_url: str, broker: Tansu, browser: Browser
) -> None:
    """The yearly revision starts from what was measured: the year's initiatives per node,
    the plans that served it with their goals as measured, and the tracks no plan served —
    as JSON, as a table, and as a page with charts for people without a token."""
    app = create_app(settings_for(PlanningSettings, database_url, broker.bootstrap))
    app.state.runtime.workers.clear()  # no due timer: the plan stays as the test leaves it
    body = {**SILKEBORG, "period_start": "2015-01-01", "period_end": "2017-12-31"}
    formula = '=HYPERLINK("http://x")'
    async with serving(app) as client:
        strategy = (await client.post("/v1/strategies", json=body, headers=PLANNER)).json()
        concepts = node(strategy, SILKEBORG_TRACK)
        revision = action_plan(strategy, 2016, ACTION_PLAN_2013, "Første år")
        revision["items"].append({"track_id": concepts["id"], "initiative": "=SUM(A1)"})
        await client.post(
            f"/v1/strategies/{strategy['id']}/action-plan/versions", json=revision, headers=PLANNER
        )
        made, later = await create_approvable_plan(client), await create_approvable_plan(client)
        for plan, year, title in ((made, 2016, formula), (later, 2017, "Dialogmøder")):
            linked = await client.patch(
                f"/v1/plans/{plan['plan']['id']}",
                headers=PLANNER,
                json={
                    "track_id": concepts["id"],
                    "period_start": f"{year}-01-01",
                    "period_end": f"{year}-06-30",
                    "title": title,
                },
            )
            assert linked.status_code == 200, linked.text
        new_year = {"title": "Nytårskur", "kind": "communication"}  # 00:30 in Denmark: 2017
        await client.post(
            f"/v1/plans/{later['plan']['id']}/activities",
            json={**new_year, "starts_at": "2016-12-31T23:30:00Z"},
            headers=PLANNER,
        )
        goal = made["goal"]
        measured = KpiMeasured(
            plan_id=made["plan"]["id"],
            goal_id=goal["id"],
            metric=goal["metric"],
            value=312,
            target=goal["target"],
            unit=goal["unit"],
            measured_at=datetime(2016, 1, 21, tzinfo=UTC),
            source="counted",
        )
        envelope = new_envelope(
            measured, source="/budskab/metrics", subject="p", correlation_id="c"
        )
        await produce(broker.bootstrap, topics.KPIS, [(b"p", envelope.model_dump_json().encode())])
        url = f"/v1/strategies/{strategy['id']}/report"

        async def report_2016() -> dict:
            return (await client.get(url, params={"year": 2016}, headers=PLANNER)).json()

        report = await eventually(report_2016, until=lambda r: r["summary"]["goals_attained"])
        after_the_strategy = (await client.get(url, headers=PLANNER)).json()  # no year given
        table = await client.get(f"{url}.csv", params={"year": 2016}, headers=PLANNER)
        outside = await client.get(url, params={"year": 2018}, headers=PLANNER)
        unknown = await client.get("/v1/strategies/nope/report", headers=PLANNER)
        page = await client.get(path_of(report["page"]))
        as_browser = {"Accept": "text/html"}
        forged = await client.get("/reports/strategies/" + "x" * 40, headers=as_browser)
        await read_the_strategy_report_in_a_browser(app, browser, path_of(report["page"]), goal)
    by_name = {n["name"]: n for n in report["nodes"]}
    served = by_name[SILKEBORG_TRACK]
    assert (report["year"], report["action_plan_version"]) == (2016, 1)
    assert sorted(n["id"] for n in report["nodes"]) == sorted(n["id"] for n in all_nodes(strategy))
    assert report["nodes"][0]["id"] == strategy["focus_areas"][0]["id"]  # in the tree's order
    assert served["focus_area"] == "Strategisk kommunikation"
    assert [i["initiative"] for i in served["initiatives"]] == [
        "Koncept for dialogmøder med borgere",
        "=SUM(A1)",
    ]
    assert [p["id"] for p in served["plans"]] == [made["plan"]["id"]]  # not the 2017 plan
    [plan] = served["plans"]
    assert [(g["measured_value"], g["target"], g["attained"]) for g in plan["goals"]] == [
        (312, 300, True)
    ]
    assert [a["title"] for a in plan["activities"]] == [
        "Velfærdens innovationsdag",
        "Nyhedsbrev januar",
    ]
    assert report["summary"] | {"tracks_without_plans": None} == {
        "plans": 1,
        "plans_approved": 0,  # a draft: listed, with its status
        "goals": 1,
        "goals_attained": 1,
        "goals_behind": 0,
        "goals_not_measured": 0,
        "activities": 2,
        "activities_cancelled": 0,
        "tracks_without_plans": None,
    }
    unserved = {n["name"] for n in report["summary"]["tracks_without_plans"]}
    assert SILKEBORG_TRACK not in unserved
    assert "Borgerdialog og borgerinddragelse" not in unserved  # served by its sub-track
    assert "Strategisk kommunikation" not in unserved  # a focus area: no plan serves one
    assert "Videndeling" in unserved
    # without a year, today (after 2017) gives the strategy's last year: the later plan and
    # its activity at 00:30 on New Year's Day in Denmark
    assert after_the_strategy["year"] == 2017 and after_the_strategy["action_plan_version"] is None
    assert [
        [a["title"] for a in p["activities"]]
        for n in after_the_strategy["nodes"]
        for p in n["plans"]
    ] == [["Nytårskur"]]
    assert table.status_code == 200 and table.headers["content-type"].startswith("text/csv")
    header, *rows = csv.reader(io.StringIO(table.text.removeprefix("\ufeff")))
    assert header[:7] == ["focus_area", "node", "plan", "status", "row", "name", "detail"]
    assert {len(row) for row in rows} == {len(header)}
    assert {r[2] for r in rows if r[4] != "initiative"} == {"'" + formula}  # text, not formula
    assert "'=SUM(A1)" in [r[5] for r in rows if r[4] == "initiative"]
    [goal_row] = [dict(zip(header, r, strict=True)) for r in rows if r[4] == "goal"]
    assert [goal_row[k] for k in ("target", "unit", "measured", "attained")] == [
        "300.0",
        "participants",
        "312.0",
        "True",
    ]
    assert_problem(outside, 422)
    assert outside.json()["errors"] == [
        {"field": "year", "message": "outside the strategy's period"}
    ]
    assert_problem(unknown, 404)
    assert report["page"].startswith("http://127.0.0.1:8001/reports/strategies/")
    assert report["page"].endswith("?year=2016")
    assert page.status_code == 200 and '<html lang="da">' in page.text
    assert "1 nået, 0 under målet, 0 ikke målt" in page.text
    assert "Koncept for dialogmøder med borgere" in page.text
    assert page.text.count("<svg") == 2  # goals against targets; goals per focus area
    assert "<script" not in page.text and "=HYPERLINK(&#34;http://x&#34;)" in page.text
    assert forged.status_code == 404 and "expired" in forged.text


async def read_the_strategy_report_in_a_browser(
    app, browser: Browser, path: str, goal: dict
) -> None:  # type: ignore[no-untyped-def]
    """As the committee reads it: Danish, its tree as headings, each plan's goals in a table
    named by its caption; then English."""
    async with listening(app, lifespan=False) as base_url:
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(base_url + path)
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        area = page.get_by_role("heading", name="Strategisk kommunikation", level=3)
        await expect(area).to_be_visible()
        await expect(page.get_by_role("heading", name=SILKEBORG_TRACK)).to_be_visible()
        plan = page.get_by_role("heading", name=re.compile("^Plan: =HYPERLINK"))
        await expect(plan).to_contain_text("(kladde)")
        goals = page.get_by_role("table", name=re.compile("^Mål for =HYPERLINK"))
        row = goals.get_by_role("row", name=re.compile("^" + goal["metric"]))
        await expect(row).to_contain_text("nået")
        activities = page.get_by_role("table", name=re.compile("^Aktiviteter i =HYPERLINK"))
        await expect(activities.get_by_role("row", name=re.compile("^Nyhedsbrev"))).to_be_visible()
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await expect(plan).to_contain_text("(draft)")
        goals = page.get_by_role("table", name=re.compile("^Goals of =HYPERLINK"))
        await expect(
            goals.get_by_role("row", name=re.compile("^" + goal["metric"]))
        ).to_contain_text("attained")
        await context.close()
