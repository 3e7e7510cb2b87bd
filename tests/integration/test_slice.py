"""The thin slice, end to end: the four services as real processes on the real broker.

Planning approves a plan with an event and a newsletter issue; events creates the event
and planning shows it; notifications e-mails the audience's consenting contacts over
SMTP; metrics counts everything per plan, on its API and on /metrics.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from scripts.stack import SERVICES, SmtpSink, Tansu
from tests.factories import create_approvable_plan
from tests.helpers import auth, eventually, four_services

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def stack(request, broker: Tansu, smtp_sink: SmtpSink, tmp_path: Path):  # type: ignore[no-untyped-def]
    def url(name: str) -> str:
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path}/{name}.db"
        return request.getfixturevalue("postgres").create_database(
            f"slice_{name}_{tmp_path.name[-8:]}"
        )

    with four_services(url, broker.bootstrap, smtp_sink.port, tmp_path) as processes:
        yield processes


async def test_an_approved_plan_becomes_an_event_emails_and_counts(
    stack, smtp_sink: SmtpSink
) -> None:
    planning, events, notifications, metrics = (stack[n].url for n in SERVICES)
    async with httpx.AsyncClient(timeout=10) as client:
        made = await create_approvable_plan(client, planning)
        plan_id, audience_id = made["plan"]["id"], made["audience"]["id"]
        for i, consent in enumerate([True, True, False]):
            response = await client.post(
                f"{notifications}/v1/contacts",
                json={
                    "email": f"medarbejder{i}@aarhus.example",
                    "name": f"Medarbejder {i}",
                    "email_consent": consent,
                    "audience_ids": [audience_id],
                },
                headers=auth("communicator"),
            )
            assert response.status_code == 201, response.text
        reach = await client.post(
            f"{planning}/v1/plans/{plan_id}/goals",
            headers=auth("planner"),
            json={
                "description": "The newsletter reaches the consenting staff",
                "metric": "deliveries_sent",
                "target": 2,
                "unit": "e-mails",
            },
        )
        assert reach.status_code == 201, reach.text
        approved = await client.post(
            f"{planning}/v1/plans/{plan_id}/approve", headers=auth("planner")
        )
        assert approved.status_code == 200, approved.text

        client.headers.update(auth("analyst"))

        async def get(url: str, **params: str):  # type: ignore[no-untyped-def]
            response = await client.get(url, params=params)
            return (
                response.json()
                if response.headers["content-type"].endswith("json")
                else response.text
            )

        view = await eventually(
            lambda: get(f"{planning}/v1/plans/{plan_id}"),
            lambda p: p["activities"][0]["event_id"] and p["activities"][1]["deliveries_sent"] == 2,
            timeout=60,
        )
        event_activity, newsletter = view["activities"]
        assert newsletter["deliveries_failed"] == 0

        event = await get(f"{events}/v1/events/{event_activity['event_id']}")
        assert event["title"] == "Velfærdens innovationsdag"
        assert event["capacity"] == 300 and event["format"] == "theme_day"
        assert event["activity_id"] == event_activity["id"] and event["plan_id"] == plan_id
        # the organiser publishes the event, then moves it: the plan shows both
        manager = auth("event_manager")
        published = await client.post(f"{events}/v1/events/{event['id']}/publish", headers=manager)
        assert published.status_code == 200, published.text
        moved = await client.patch(
            f"{events}/v1/events/{event['id']}",
            json={"starts_at": "2016-02-03T08:00:00+00:00", "reason": "Salen er optaget"},
            headers=manager,
        )
        assert moved.status_code == 200, moved.text
        await eventually(
            lambda: get(f"{planning}/v1/plans/{plan_id}"),
            lambda p: (
                p["activities"][0]["event_status"] == "published"
                and p["activities"][0]["event_starts_at"].startswith("2016-02-03T08:00")
            ),
            timeout=30,
        )

        # Two consenting contacts, two e-mails; the one without consent gets none.
        assert sorted(m["To"] for m in smtp_sink.messages) == [
            "Medarbejder 0 <medarbejder0@aarhus.example>",
            "Medarbejder 1 <medarbejder1@aarhus.example>",
        ]
        assert {m["Subject"] for m in smtp_sink.messages} == {"Rethink velfærd"}
        deliveries = await get(f"{notifications}/v1/deliveries", plan_id=plan_id)
        assert {d["status"] for d in deliveries["items"]} == {"sent"} and deliveries["total"] == 2
        message_ids = {m["Message-ID"] for m in smtp_sink.messages}
        assert message_ids == {
            f"<{d['id']}@budskab>" for d in deliveries["items"]
        }  # idempotency key

        expected = {
            "plan.approved.v1": 1,
            "activity.approved.v1": 2,
            "event.created.v1": 1,
            "delivery.sent.v1": 2,
        }
        # (activity.due.v1 may join them: the activities' dates in 2016 are long past)
        await eventually(
            lambda: get(f"{metrics}/v1/plans/{plan_id}/counts"),
            lambda c: {t: c["counts"].get(t) for t in expected} == expected,
        )
        # the metrics service counted the e-mails against the goal; planning shows the value
        goals = await eventually(
            lambda: get(f"{planning}/v1/plans/{plan_id}"),
            lambda p: p["goals"][1]["measured_value"] == 2,
            timeout=30,
        )
        assert goals["goals"][1]["attained"] is True
        assert goals["goals"][1]["measured_source"] == "counted"
        # /metrics has bounded labels only: the plan's figures are in the API, not in a label
        exposition = await eventually(
            lambda: get(f"{metrics}/metrics"),
            lambda text: (
                "budskab_events{" in text and 'budskab_kpi_goals{state="attained"}' in text
            ),
        )
        assert plan_id not in exposition
