"""Planning at the edges of what it accepts: times at the ends of the calendar, recurrence
rules that a rule engine chokes on. Each is a 422 problem naming the field, and the plan stays
readable."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.planning.app import create_app
from services.planning.settings import PlanningSettings
from tests.factories import PLANNER, create_approvable_plan
from tests.helpers import serving, settings_for, token

pytestmark = pytest.mark.integration

EDGES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "1899-12-31T23:00:00+00:00"]


def assert_422_naming(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert any(e["field"].endswith(field) for e in response.json()["errors"]), response.text


async def test_times_at_the_ends_of_the_calendar_are_422_and_the_plan_stays_readable(
    planning: httpx.AsyncClient,
) -> None:
    made = await create_approvable_plan(planning)
    plan_id, activity = made["plan"]["id"], made["newsletter_activity"]
    before = (await planning.get(f"/v1/plans/{plan_id}", headers=PLANNER)).json()
    for when in EDGES:
        added = await planning.post(
            f"/v1/plans/{plan_id}/activities",
            json={"title": "Kronik", "kind": "communication", "starts_at": when},
            headers=PLANNER,
        )
        assert_422_naming(added, "starts_at")
        moved = await planning.post(
            f"/v1/plans/{plan_id}/activities/{activity['id']}/reschedule",
            json={"starts_at": when},
            headers=PLANNER,
        )
        assert_422_naming(moved, "starts_at")
        listed = await planning.get("/v1/calendar", params={"starts_from": when}, headers=PLANNER)
        assert_422_naming(listed, "starts_from")
        day = when[:10]
        strategy = await planning.post(
            "/v1/strategies",
            json={
                "name": "Kommunikationsstrategi",
                "organisation": "Silkeborg Kommune",
                "vision": "Synlig",
                "period_start": day,
                "period_end": "2017-12-31",
            },
            headers=PLANNER,
        )
        assert_422_naming(strategy, "period_start")
    shown = await planning.get(f"/v1/plans/{plan_id}", headers=PLANNER)
    assert shown.status_code == 200 and shown.json()["version"] == before["version"]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;BYDAY=60MO;COUNT=3",
        "FREQ=MONTHLY;COUNT=2;COUNT=3",
        "FREQ=YEARLY;BYMONTH=13;COUNT=2",
    ],
)
async def test_a_recurrence_rule_out_of_range_is_a_422_problem(
    planning: httpx.AsyncClient, rule: str
) -> None:
    made = await create_approvable_plan(planning)
    added = await planning.post(
        f"/v1/plans/{made['plan']['id']}/activities",
        json={
            "title": "Tendens",
            "kind": "communication",
            "starts_at": "2016-01-04T08:00:00Z",
            "recurrence": rule,
        },
        headers=PLANNER,
    )
    assert_422_naming(added, "recurrence")
    assert added.elapsed.total_seconds() < 1


async def test_a_strategy_tree_over_the_bound_is_refused_before_any_work(
    planning: httpx.AsyncClient,
) -> None:
    tracks = [{"name": f"Spor {i}", "children": [{"name": "Under"}] * 20} for i in range(20)]
    huge = {
        "name": "Kommunikationsstrategi",
        "organisation": "Silkeborg Kommune",
        "vision": "Synlig",
        "period_start": "2013-01-01",
        "period_end": "2014-12-31",
        "focus_areas": [{"name": f"Fokus {i}", "children": tracks} for i in range(20)],
    }
    refused = await planning.post("/v1/strategies", json=huge, headers=PLANNER)
    assert_422_naming(refused, "focus_areas")
    listed = (await planning.get("/v1/strategies", headers=PLANNER)).json()
    assert listed["total"] == 0


async def test_with_four_eyes_who_submitted_a_plan_cannot_approve_it(tmp_path: Path) -> None:
    settings = settings_for(
        PlanningSettings,
        f"sqlite+aiosqlite:///{tmp_path}/p.db",
        "127.0.0.1:1",
        four_eyes_approval=True,
    )
    app = create_app(settings)
    app.state.runtime.workers.clear()
    ann = {"Authorization": f"Bearer {token('planner', subject='ann@aarhus.dk')}"}
    bo = {"Authorization": f"Bearer {token('planner', subject='bo@aarhus.dk')}"}
    async with serving(app) as client:
        plan_id = (await create_approvable_plan(client))["plan"]["id"]
        early = await client.post(f"/v1/plans/{plan_id}/approve", headers=bo)
        assert early.status_code == 409 and "review first" in early.json()["detail"]
        assert (await client.post(f"/v1/plans/{plan_id}/submit", headers=ann)).status_code == 200
        own = await client.post(f"/v1/plans/{plan_id}/approve", headers=ann)
        assert own.status_code == 403 and own.headers["content-type"] == "application/problem+json"
        other = await client.post(f"/v1/plans/{plan_id}/approve", headers=bo)
        assert other.status_code == 200 and other.json()["approved_by"] == "bo@aarhus.dk"
