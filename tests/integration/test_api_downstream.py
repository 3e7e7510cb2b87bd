"""The read APIs of events, notifications (deliveries) and metrics, fed over the real broker.

Planning's published contract (`activity.approved.v1`) is produced as a foreign producer
would: Aarhus Kommune's "Kommune forfra" with five events (Velfærdens innovationsdag for
300, the round table, the workshop, Folkemødet, the 2017 conference) and the January
newsletter to three employees, plus Beskæftigelsesregion Midtjylland's employment
conference in another plan. Then the APIs are read as their users read them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import httpx
import pytest

from scripts.stack import SmtpSink, Tansu
from services.events.app import create_app as create_events_app
from services.events.settings import EventsSettings
from services.metrics.app import create_app as create_metrics_app
from services.metrics.settings import MetricsSettings
from services.notifications.app import create_app as create_notifications_app
from services.notifications.settings import NotificationsSettings
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.planning import ActivityApproved, AudienceRef, EventDetails, MessageRef
from tests.api import (
    BAD_CREDENTIALS,
    assert_invalid,
    assert_problem,
    assert_route_counted,
    assert_unauthorized,
    backend_url,
    prometheus_samples,
    serving_over_http,
)
from tests.helpers import auth, eventually, produce, settings_for

pytestmark = pytest.mark.integration

ANALYST = auth("analyst")
EVENT_MANAGER = auth("event_manager")
COMMUNICATOR = auth("communicator")

KOMMUNE_FORFRA = str(uuid.uuid4())
BESKAEFTIGELSE = str(uuid.uuid4())
STAFF = AudienceRef(id="audience-aarhus-staff", name="Kommunale medarbejdere")
MESSAGE = MessageRef(id="message-rethink", subject="Rethink velfærd", body="Kom og vær med.")

EVENTS = [  # (plan, title, format, capacity, starts at)
    (KOMMUNE_FORFRA, "Velfærdens innovationsdag", "theme_day", 300, "2016-01-20T09:00:00+01:00"),
    (
        KOMMUNE_FORFRA,
        "Rundbordssamtale for kommunaldirektører",
        "round_table",
        20,
        "2016-01-20T13:00:00+01:00",
    ),
    (
        KOMMUNE_FORFRA,
        "Workshop om velfærdens dilemmaer",
        "workshop",
        60,
        "2016-01-20T14:00:00+01:00",
    ),
    (KOMMUNE_FORFRA, "Debat på Folkemødet", "festival_debate", 120, "2016-06-16T14:00:00+02:00"),
    (KOMMUNE_FORFRA, "Rethink public service", "conference", 1000, "2017-05-10T09:00:00+02:00"),
    (BESKAEFTIGELSE, "Beskæftigelseskonferencen", "conference", 300, "2013-11-07T09:00:00+01:00"),
]
NEWSLETTER_ID = str(uuid.uuid4())
EMPLOYEES = [
    "medarbejder0@aarhus.example",
    "medarbejder1@aarhus.example",
    "medarbejder2@aarhus.example",
]


def approved(activity_id: str, plan_id: str, title: str, starts_at: str, **extra) -> bytes:  # type: ignore[no-untyped-def]
    data = ActivityApproved(
        activity_id=activity_id,
        plan_id=plan_id,
        title=title,
        starts_at=datetime.fromisoformat(starts_at),
        audience=STAFF,
        message=MESSAGE,
        **extra,
    )
    envelope = new_envelope(
        data, source="/tests/planning", subject=activity_id, correlation_id=f"corr-{activity_id}"
    )
    return envelope.model_dump_json().encode()


@dataclass
class Downstream:
    events: httpx.AsyncClient
    notifications: httpx.AsyncClient
    metrics: httpx.AsyncClient
    event_activity_ids: list[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def downstream(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Downstream]:
    """Events, notifications and metrics on one broker and one backend, after the plans'
    approved activities went through. Clients see a crash as the 500 a real client gets."""
    logs = tmp_path_factory.mktemp("downstream")
    broker = Tansu(log_path=logs / "tansu.log").start()
    sink = SmtpSink(maildir=logs / "mail").start()
    try:

        def app(factory, settings_cls, **extra):  # type: ignore[no-untyped-def]
            url = backend_url(request, tmp_path_factory)
            return factory(settings_for(settings_cls, url, broker.bootstrap, **extra))

        async with (
            serving_over_http(app(create_events_app, EventsSettings)) as events,
            serving_over_http(
                app(
                    create_notifications_app,
                    NotificationsSettings,
                    smtp_port=sink.port,
                    send_poll_interval_seconds=0.1,
                )
            ) as notifications,
            serving_over_http(app(create_metrics_app, MetricsSettings)) as metrics,
        ):
            for i, address in enumerate(EMPLOYEES):
                response = await notifications.post(
                    "/v1/contacts",
                    json={
                        "email": address,
                        "name": f"Medarbejder {i}",
                        "email_consent": True,
                        "audience_ids": [STAFF.id],
                    },
                    headers=COMMUNICATOR,
                )
                assert response.status_code == 201, response.text

            activity_ids = [str(uuid.uuid4()) for _ in EVENTS]
            messages = [
                (
                    aid.encode(),
                    approved(
                        aid,
                        plan,
                        title,
                        starts,
                        kind="event",
                        channel="conference",
                        event=EventDetails(format=fmt, capacity=capacity),
                    ),
                )
                for aid, (plan, title, fmt, capacity, starts) in zip(
                    activity_ids, EVENTS, strict=True
                )
            ]
            messages.append(
                (
                    NEWSLETTER_ID.encode(),
                    approved(
                        NEWSLETTER_ID,
                        KOMMUNE_FORFRA,
                        "Nyhedsbrev januar",
                        "2016-01-05T08:00:00+01:00",
                        kind="communication",
                        channel="newsletter",
                    ),
                )
            )
            await produce(broker.bootstrap, topics.ACTIVITIES, messages)

            await eventually(
                lambda: events.get("/v1/events", headers=ANALYST),
                lambda r: r.status_code == 200 and r.json()["total"] == len(EVENTS),
            )
            await eventually(
                lambda: notifications.get("/v1/deliveries", headers=ANALYST),
                lambda r: (
                    r.status_code == 200
                    and [d["status"] for d in r.json()["items"]] == ["sent"] * len(EMPLOYEES)
                ),
            )
            yield Downstream(events, notifications, metrics, activity_ids)
    finally:
        sink.stop()
        broker.stop()


# --- events ---------------------------------------------------------------------------------


async def test_each_approved_event_activity_became_one_event(downstream: Downstream) -> None:
    response = await downstream.events.get("/v1/events", params={"limit": 200}, headers=ANALYST)

    body = response.json()
    assert body["total"] == len(EVENTS)  # the newsletter is not an event
    by_activity = {e["activity_id"]: e for e in body["items"]}
    assert set(by_activity) == set(downstream.event_activity_ids)
    innovationsdag = by_activity[downstream.event_activity_ids[0]]
    assert innovationsdag["title"] == "Velfærdens innovationsdag"
    assert innovationsdag["format"] == "theme_day" and innovationsdag["capacity"] == 300
    assert innovationsdag["plan_id"] == KOMMUNE_FORFRA
    starts = datetime.fromisoformat(innovationsdag["starts_at"].replace("Z", "+00:00"))
    assert starts == datetime.fromisoformat("2016-01-20T09:00:00+01:00")


async def test_an_event_is_read_by_its_id(downstream: Downstream) -> None:
    listed = (await downstream.events.get("/v1/events", headers=EVENT_MANAGER)).json()["items"]

    for event in listed:
        shown = await downstream.events.get(f"/v1/events/{event['id']}", headers=EVENT_MANAGER)
        assert shown.status_code == 200, shown.text
        assert shown.json() == event


async def test_an_unknown_event_is_a_404_problem(downstream: Downstream) -> None:
    for unknown in [str(uuid.uuid4()), downstream.event_activity_ids[0]]:  # an activity id
        response = await downstream.events.get(f"/v1/events/{unknown}", headers=ANALYST)
        assert_problem(response, 404)


async def test_events_are_paged_in_a_stable_order_with_the_right_total(
    downstream: Downstream,
) -> None:
    client = downstream.events
    everything = (await client.get("/v1/events", params={"limit": 200}, headers=ANALYST)).json()
    order = [e["id"] for e in everything["items"]]

    paged: list[str] = []
    for offset in range(0, len(EVENTS), 4):
        page = await client.get(
            "/v1/events", params={"limit": 4, "offset": offset}, headers=ANALYST
        )
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (len(EVENTS), 4, offset)
        paged += [e["id"] for e in body["items"]]

    assert paged == order and len(set(order)) == len(EVENTS)
    beyond = (await client.get("/v1/events", params={"offset": 100}, headers=ANALYST)).json()
    assert beyond["items"] == [] and beyond["total"] == len(EVENTS)


async def test_events_are_filtered_by_plan(downstream: Downstream) -> None:
    async def of(plan_id: str) -> dict:
        response = await downstream.events.get(
            "/v1/events", params={"plan_id": plan_id, "limit": 2}, headers=ANALYST
        )
        assert response.status_code == 200, response.text
        return response.json()

    aarhus, region, nobody = await of(KOMMUNE_FORFRA), await of(BESKAEFTIGELSE), await of("x")
    assert aarhus["total"] == 5 and len(aarhus["items"]) == 2
    assert {e["plan_id"] for e in aarhus["items"]} == {KOMMUNE_FORFRA}
    assert region["total"] == 1 and region["items"][0]["title"] == "Beskæftigelseskonferencen"
    assert nobody == {"items": [], "total": 0, "limit": 2, "offset": 0}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": -1}, "offset"),
        ({"limit": "alle"}, "limit"),
    ],
    ids=["limit 0", "limit 201", "offset -1", "limit text"],
)
async def test_out_of_range_event_paging_is_a_422_problem_naming_the_parameter(
    downstream: Downstream, params: dict, field: str
) -> None:
    response = await downstream.events.get("/v1/events", params=params, headers=ANALYST)
    assert_invalid(response, field)


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
async def test_reading_events_deliveries_and_counts_needs_a_valid_token(
    downstream: Downstream, credentials: dict[str, str]
) -> None:
    event_id = (await downstream.events.get("/v1/events", headers=ANALYST)).json()["items"][0]
    for client, path in [
        (downstream.events, "/v1/events"),
        (downstream.events, f"/v1/events/{event_id['id']}"),
        (downstream.notifications, "/v1/deliveries"),
        (downstream.metrics, f"/v1/plans/{KOMMUNE_FORFRA}/counts"),
    ]:
        assert_unauthorized(await client.get(path, headers=credentials))


# --- deliveries -----------------------------------------------------------------------------


async def test_deliveries_are_paged_and_filtered_by_activity_and_plan(
    downstream: Downstream,
) -> None:
    client = downstream.notifications

    async def listing(**params: object) -> dict:
        response = await client.get("/v1/deliveries", params=params, headers=ANALYST)
        assert response.status_code == 200, response.text
        return response.json()

    everything = await listing(limit=200)
    assert everything["total"] == len(EMPLOYEES)
    first, second = await listing(limit=2), await listing(limit=2, offset=2)
    assert [d["id"] for d in first["items"] + second["items"]] == [
        d["id"] for d in everything["items"]
    ]
    assert first["total"] == second["total"] == len(EMPLOYEES)
    assert (await listing(activity_id=NEWSLETTER_ID))["total"] == len(EMPLOYEES)
    assert (await listing(plan_id=KOMMUNE_FORFRA))["total"] == len(EMPLOYEES)
    assert (await listing(plan_id=BESKAEFTIGELSE))["total"] == 0
    assert {d["subject"] for d in everything["items"]} == {"Rethink velfærd"}
    assert {d["channel"] for d in everything["items"]} == {"newsletter"}


# --- metrics --------------------------------------------------------------------------------


async def test_metrics_count_what_happened_to_each_plan(downstream: Downstream) -> None:
    expected = {
        "activity.approved.v1": 6,
        "event.created.v1": 5,
        "delivery.sent.v1": len(EMPLOYEES),
        "send.completed.v1": 1,  # the newsletter went to everyone
    }

    counts = await eventually(
        lambda: downstream.metrics.get(f"/v1/plans/{KOMMUNE_FORFRA}/counts", headers=ANALYST),
        lambda r: r.status_code == 200 and r.json()["counts"] == expected,
    )

    assert counts.json() == {
        "plan_id": KOMMUNE_FORFRA,
        "counts": expected,
        "total": sum(expected.values()),
    }


async def test_counts_for_a_plan_never_seen_are_zero(downstream: Downstream) -> None:
    """As documented: zero counts for an unknown plan (not a 404)."""
    unknown = str(uuid.uuid4())

    response = await downstream.metrics.get(f"/v1/plans/{unknown}/counts", headers=ANALYST)

    assert response.status_code == 200, response.text
    assert response.json() == {"plan_id": unknown, "counts": {}, "total": 0}


async def test_odd_input_is_a_client_error_not_a_crash(downstream: Downstream) -> None:
    events, metrics = downstream.events, downstream.metrics
    unknown_event = await events.get("/v1/events/abc%00def", headers=ANALYST)
    odd = {
        "NUL in the event id": unknown_event,
        "event offset beyond 64 bits": await events.get(
            "/v1/events", params={"offset": 2**63}, headers=ANALYST
        ),
        "NUL in the event filter": await events.get(
            "/v1/events", params={"plan_id": "abc\x00"}, headers=ANALYST
        ),
        "NUL in the plan id of counts": await metrics.get(
            "/v1/plans/abc%00def/counts", headers=ANALYST
        ),
    }

    crashes = {name: r.text for name, r in odd.items() if r.status_code >= 500}
    assert not crashes, f"500 for: {sorted(crashes)}; first: {next(iter(crashes.values()), '')}"
    problem = assert_problem(unknown_event, 400)  # refused before any route reads it
    assert "NUL" in problem["detail"]


# --- operations -----------------------------------------------------------------------------


async def test_every_service_is_ready_once_it_reaches_its_broker(downstream: Downstream) -> None:
    for client in (downstream.events, downstream.notifications, downstream.metrics):
        assert (await client.get("/healthz")).status_code == 200
        ready = await eventually(lambda c=client: c.get("/readyz"), lambda r: r.status_code == 200)
        assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


async def test_correlation_ids_are_echoed_and_generated(downstream: Downstream) -> None:
    for client, path in [
        (downstream.events, f"/v1/events/{uuid.uuid4()}"),
        (downstream.metrics, f"/v1/plans/{KOMMUNE_FORFRA}/counts"),
    ]:
        echoed = await client.get(path, headers={**ANALYST, "X-Correlation-ID": "folkemoedet-16"})
        generated = await client.get(path, headers=ANALYST)
        assert echoed.headers.get("x-correlation-id") == "folkemoedet-16"
        assert generated.headers.get("x-correlation-id") not in (None, "", "folkemoedet-16")


async def test_request_metrics_are_labelled_by_route_template(downstream: Downstream) -> None:
    event_id = (await downstream.events.get("/v1/events", headers=ANALYST)).json()["items"][0]
    await downstream.events.get(f"/v1/events/{event_id['id']}", headers=ANALYST)
    await downstream.metrics.get(f"/v1/plans/{KOMMUNE_FORFRA}/counts", headers=ANALYST)

    for client, route in [
        (downstream.events, "/v1/events/{event_id}"),
        (downstream.metrics, "/v1/plans/{plan_id}/counts"),
    ]:
        exposition = (await client.get("/metrics")).text
        assert event_id["id"] not in exposition
        assert f'route="/v1/plans/{KOMMUNE_FORFRA}' not in exposition
        samples = prometheus_samples(exposition, "budskab_http_requests_total")
        assert_route_counted(samples, "GET", route, "200")
