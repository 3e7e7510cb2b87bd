"""KPIs over the real broker, on SQLite and PostgreSQL: the metrics service keeps each
approved plan's goals, counts the ones it can count and publishes kpi.measured.v1 for every
new value; people report the rest (a user survey) through the API.

Planning's contracts (plan.approved.v1, plan.revised.v1) and the deliveries are produced as
a foreign producer would. The case: Beskæftigelsesregion Midtjylland's newsletter Tendens
(goal: reach the job centres) and Aarhus Kommune's user survey (goal: 75 % satisfied).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from services.metrics.kpis import recount_metrics
from services.metrics.measures import QUERIES
from services.metrics.tables import DeliveryFact, KpiDue, KpiGoal, KpiMeasurement
from shared import topics
from shared.contracts.notifications import DeliveryBounced, DeliverySent
from tests.api import (
    BAD_CREDENTIALS,
    assert_invalid,
    assert_problem,
    assert_unauthorized,
    bearer,
)
from tests.helpers import (
    auth,
    eventually,
    produce,
    produce_one_batch,
    read_topic,
    runtime_of,
    token,
)
from tests.services import (
    ANALYST,
    METRICS_NOW,
    Metrics,
    approve,
    envelope,
    goal,
    kpis,
    plan_revised,
)

pytestmark = pytest.mark.integration

PLANNER = auth("planner")
ADMIN = auth("admin")


# --- what notifications publish -------------------------------------------------------------


def delivery_sent(plan_id: str) -> tuple[bytes, bytes]:
    delivery_id = str(uuid.uuid4())
    data = DeliverySent(
        delivery_id=delivery_id,
        activity_id="tendens-6",
        plan_id=plan_id,
        contact_id=str(uuid.uuid4()),
        channel="newsletter",
        sent_at=METRICS_NOW,
    )
    return delivery_id.encode(), envelope(data, delivery_id)


# --- reading what the service did ------------------------------------------------------------


async def published_kpis(m: Metrics, plan_id: str, kind: str = "kpi.measured.v1") -> list[dict]:
    """Every envelope of `kind` of the plan on the topic, in publication order, once the
    outbox is empty. The topic holds exactly one record per outbox row."""
    runtime = runtime_of(m.app)

    async def settled() -> bool:  # nothing left to measure, nothing left to publish
        async with runtime.sessions() as session:
            due = await session.scalar(select(func.count()).select_from(KpiDue))
        return due == 0 and (await runtime.relay.refresh_gauges())[0] == 0

    await eventually(settled, bool)
    async with runtime.sessions() as session:
        recorded = await session.scalar(select(func.count()).select_from(KpiMeasurement))
        written = await session.scalar(select(func.count()).select_from(runtime.outbox))
    records = await read_topic(m.bootstrap, topics.KPIS, at_least=written or 0)
    assert len(records) == written  # nothing published twice, nothing missing
    events = [json.loads(record.value) for record in records]
    assert sum(e["type"] == "kpi.measured.v1" for e in events) == recorded
    assert {e["type"] for e in events} <= {"kpi.measured.v1", "kpi.threshold_crossed.v1"}
    return [e for e in events if e["data"]["plan_id"] == plan_id and e["type"] == kind]


async def history(m: Metrics, plan_id: str, goal_id: str, **params: object) -> httpx.Response:
    return await m.client.get(
        f"/v1/plans/{plan_id}/goals/{goal_id}/measurements", params=params, headers=ANALYST
    )


# --- counted KPIs ----------------------------------------------------------------------------


async def test_three_deliveries_sent_reach_a_goal_of_three(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    reach = goal("deliveries_sent", 3, "recipients", deadline=date(2015, 12, 31))
    survey = goal("user satisfaction", 75, "%")
    before = await approve(metrics, plan_id, [reach, survey])
    assert [k["value"] for k in before["kpis"]] == [None, None]

    await produce(metrics.bootstrap, topics.DELIVERIES, [delivery_sent(plan_id) for _ in range(3)])

    shown = await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 3)
    events = await published_kpis(metrics, plan_id)
    published = [e["data"] for e in events]
    values = [p["value"] for p in published]
    # coalesced: a value per measuring round, not per delivery, rising to the count
    assert values == sorted(set(values)) and values[-1] == 3 and len(values) <= 3
    assert {e["subject"] for e in events} == {plan_id}  # keyed by plan: its values in order
    assert published[-1] | {"measured_at": None} == {
        "plan_id": plan_id,
        "goal_id": reach.id,
        "metric": "deliveries_sent",
        "value": 3.0,
        "target": 3.0,
        "unit": "recipients",
        "measured_at": None,
        "source": "counted",
    }
    first, second = shown["kpis"]
    assert first == {
        "goal_id": reach.id,
        "metric": "deliveries_sent",
        "counted": True,
        "target": 3.0,
        "unit": "recipients",
        "deadline": "2015-12-31",
        "value": 3.0,
        "measured_at": first["measured_at"],
        "source": "counted",
        "attained": True,
    }
    assert second["goal_id"] == survey.id and second["counted"] is False
    assert (second["value"], second["source"], second["attained"]) == (None, None, None)

    await asyncio.sleep(0.5)  # were its own kpi.measured.v1 read back, they would be counted
    counts = (await metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST)).json()
    assert counts["counts"] == {"plan.approved.v1": 1, "delivery.sent.v1": 3}

    crossed = await published_kpis(metrics, plan_id, "kpi.threshold_crossed.v1")
    assert [(c["data"]["goal_id"], c["data"]["attained"]) for c in crossed] == [(reach.id, True)]

    page = (await history(metrics, plan_id, reach.id, limit=1)).json()
    assert page["total"] == len(values) and [m["value"] for m in page["items"]] == [3]
    rest = (await history(metrics, plan_id, reach.id, limit=5, offset=1)).json()
    assert [m["value"] for m in rest["items"]] == values[-2::-1]  # newest first
    # each value listed is the event published for it
    assert [m["id"] for m in page["items"] + rest["items"]] == [e["id"] for e in reversed(events)]


async def test_a_burst_of_deliveries_is_measured_once_per_round_not_once_per_delivery(
    metrics: Metrics,
) -> None:
    """Forty deliveries at once: the goal's values come a measuring round apart (the
    service's `kpi_interval_seconds`, 0.2 s here), far fewer than one per delivery."""
    plan_id = str(uuid.uuid4())
    reach = goal("deliveries_sent", 40, "recipients")
    await approve(metrics, plan_id, [reach])
    burst = [(*delivery_sent(plan_id), []) for _ in range(40)]  # one batch: as a send's
    await produce_one_batch(metrics.bootstrap, topics.DELIVERIES, 0, burst)
    await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 40)
    published = [e["data"] for e in await published_kpis(metrics, plan_id)]
    values = [p["value"] for p in published]
    times = [datetime.fromisoformat(p["measured_at"]) for p in published]
    assert values == sorted(set(values)) and values[-1] == 40
    assert len(values) < 40 / 4, values
    interval = runtime_of(metrics.app).settings.kpi_interval_seconds
    assert all(b - a >= timedelta(seconds=interval) for a, b in itertools.pairwise(times)), times


async def test_a_goal_an_earlier_version_did_not_count_is_counted_after_a_restart(
    metrics: Metrics,
) -> None:
    plan_id = str(uuid.uuid4())
    sent = goal("Deliveries sent", 2, "recipients")
    await approve(metrics, plan_id, [sent])
    runtime = runtime_of(metrics.app)
    async with runtime.sessions.begin() as session:  # as a version that did not count it left it
        await session.execute(
            update(KpiGoal).where(KpiGoal.plan_id == plan_id).values(counted_metric=None)
        )
    await produce(metrics.bootstrap, topics.DELIVERIES, [delivery_sent(plan_id) for _ in range(2)])
    await eventually(
        lambda: metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST),
        lambda r: r.json()["counts"].get("delivery.sent.v1") == 2,
    )
    assert (await kpis(metrics, plan_id))["kpis"][0]["value"] is None  # not counted

    async with runtime.uow() as uow:  # what the measuring worker does first when it starts
        assert await recount_metrics(uow) == 1
        await uow.commit()
    shown = await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 2)
    assert shown["kpis"][0]["counted"] is True and shown["kpis"][0]["attained"] is True


async def test_goals_arriving_after_their_events_are_measured_once_and_again_when_revised(
    metrics: Metrics,
) -> None:
    plan_id = str(uuid.uuid4())
    await produce(metrics.bootstrap, topics.DELIVERIES, [delivery_sent(plan_id) for _ in range(2)])
    await eventually(
        lambda: metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST),
        lambda r: r.json()["counts"].get("delivery.sent.v1") == 2,
    )
    reach = goal("Deliveries sent", 5, "recipients")  # as a planner may write it

    approved = await approve(metrics, plan_id, [reach])
    await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 2)
    lowered = reach.model_copy(update={"target": 2})
    await produce(
        metrics.bootstrap,
        topics.PLANS,
        [plan_revised(plan_id, 2, [lowered]), plan_revised(plan_id, 3, [lowered])],
    )

    revised = await eventually(
        lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["target"] == 2
    )
    published = [e["data"] for e in await published_kpis(metrics, plan_id)]
    assert [(p["value"], p["target"]) for p in published] == [(2, 5), (2, 2)]  # v3: no change
    assert approved["kpis"][0]["counted"] is True
    assert (revised["kpis"][0]["value"], revised["kpis"][0]["attained"]) == (2, True)


async def test_a_redelivered_delivery_is_counted_and_published_once(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    reach = goal("deliveries_sent", 10, "recipients")
    await approve(metrics, plan_id, [reach])
    key, sent = delivery_sent(plan_id)
    marker = delivery_sent(plan_id)  # after both copies: once it is counted, they were seen

    await produce(metrics.bootstrap, topics.DELIVERIES, [(key, sent), (key, sent), marker])

    await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 2)
    published = [e["data"] for e in await published_kpis(metrics, plan_id)]
    assert [p["value"] for p in published] in ([1, 2], [2])  # never 3
    counts = await metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST)
    assert counts.json()["counts"]["delivery.sent.v1"] == 2
    assert (await history(metrics, plan_id, reach.id)).json()["total"] == len(published)


async def contacts_reached(m: Metrics, plan_id: str | None = None) -> int:
    """Contacts with a delivery sent, in the read model: the plan's, or every plan's."""
    query = QUERIES["reach"]
    if plan_id is not None:
        query = query.where(DeliveryFact.plan_id == plan_id)
    async with runtime_of(m.app).sessions() as session:
        return await session.scalar(query) or 0


async def reach_gauge_once_it_is(m: Metrics, value: int) -> int:
    line = f"budskab_reach_contacts {float(value)}"
    await eventually(lambda: m.client.get("/metrics"), lambda r: line in r.text.splitlines())
    return value


async def test_a_bounced_delivery_is_taken_off_the_reach(metrics: Metrics) -> None:
    """An e-mail that came back for good did not reach its contact: the goal's reach falls
    (and the goal falls behind); the bounce stands, even if the sending is reported again."""
    plan_id = str(uuid.uuid4())
    reach = goal("reach", 3, "contacts")
    await approve(metrics, plan_id, [reach])
    sent = [
        DeliverySent(
            delivery_id=str(uuid.uuid4()),
            activity_id="tendens-6",
            plan_id=plan_id,
            contact_id=f"reader-{i}",
            channel="newsletter",
            sent_at=METRICS_NOW,
        )
        for i in range(3)
    ]
    await produce(
        metrics.bootstrap,
        topics.DELIVERIES,
        [(d.delivery_id.encode(), envelope(d, d.delivery_id)) for d in sent],
    )
    await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 3)
    reached = await reach_gauge_once_it_is(metrics, await contacts_reached(metrics))

    first = sent[0]
    bounced = DeliveryBounced(
        **first.model_dump(exclude={"sent_at"}), bounced_at=METRICS_NOW + timedelta(hours=1)
    )
    key = first.delivery_id.encode()
    await produce(
        metrics.bootstrap, topics.DELIVERIES, [(key, envelope(bounced, first.delivery_id))]
    )
    shown = await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 2)
    await reach_gauge_once_it_is(metrics, reached - 1)  # /metrics too, across every plan
    # its sending reported once more (a new event: counted once it is handled), then one
    # more reader: 3, not 4
    await produce(metrics.bootstrap, topics.DELIVERIES, [(key, envelope(first, first.delivery_id))])
    await eventually(
        lambda: metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST),
        lambda r: r.json()["counts"].get("delivery.sent.v1") == 4,
    )
    await produce(metrics.bootstrap, topics.DELIVERIES, [delivery_sent(plan_id)])
    await eventually(
        lambda: metrics.client.get(f"/v1/plans/{plan_id}/counts", headers=ANALYST),
        lambda r: r.json()["counts"].get("delivery.sent.v1") == 5,
    )
    assert await contacts_reached(metrics, plan_id) == 3  # both handled: the read model
    after = await eventually(lambda: kpis(metrics, plan_id), lambda k: k["kpis"][0]["value"] == 3)
    crossed = await published_kpis(metrics, plan_id, "kpi.threshold_crossed.v1")
    assert shown["kpis"][0]["attained"] is False
    assert after["kpis"][0]["value"] == 3
    assert [c["data"]["attained"] for c in crossed] == [True, False, True]


# --- reported KPIs ---------------------------------------------------------------------------


async def test_a_reported_survey_result_is_published_and_shown(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    survey = goal("user satisfaction", 75, "%")
    await approve(metrics, plan_id, [survey])
    url = f"/v1/plans/{plan_id}/goals/{survey.id}/measurements"
    body = {"value": 74, "measured_on": "2010-06-01", "note": "user survey 2010: 74 % satisfied"}
    headers = {**bearer(token("planner", subject="anne")), "Idempotency-Key": str(uuid.uuid4())}

    created = await metrics.client.post(url, json=body, headers=headers)
    replayed = await metrics.client.post(url, json=body, headers=headers)

    assert created.status_code == 201, created.text
    measurement = created.json()
    assert measurement | {"id": None, "recorded_at": None} == {
        "id": None,
        "plan_id": plan_id,
        "goal_id": survey.id,
        "metric": "user satisfaction",
        "value": 74.0,
        "target": 75.0,
        "unit": "%",
        "source": "reported",
        "measured_at": "2010-06-01T00:00:00Z",
        "note": "user survey 2010: 74 % satisfied",
        "recorded_by": "anne",
        "recorded_at": None,
    }
    location = created.headers["location"]
    assert location == f"{url}/{measurement['id']}"
    assert (await metrics.client.get(location, headers=ANALYST)).json() == measurement
    assert replayed.json() == measurement and replayed.headers["idempotent-replayed"] == "true"

    published = [e["data"] for e in await published_kpis(metrics, plan_id)]
    assert len(published) == 1  # the replay published nothing
    assert published[0] | {"measured_at": published[0]["measured_at"][:10]} == {
        "plan_id": plan_id,
        "goal_id": survey.id,
        "metric": "user satisfaction",
        "value": 74.0,
        "target": 75.0,
        "unit": "%",
        "measured_at": "2010-06-01",
        "source": "reported",
    }
    shown = (await kpis(metrics, plan_id))["kpis"][0]
    assert (shown["value"], shown["source"], shown["attained"]) == (74, "reported", False)


async def test_the_latest_value_is_the_last_measured_not_the_last_reported(
    metrics: Metrics,
) -> None:
    plan_id = str(uuid.uuid4())
    survey = goal("user satisfaction", 75, "%")
    await approve(metrics, plan_id, [survey])
    url = f"/v1/plans/{plan_id}/goals/{survey.id}/measurements"
    today = datetime.now(UTC).date()

    for value, measured_on in [(81, None), (70, "2012-06-01"), (74, "2010-06-01")]:
        body = {"value": value} | ({"measured_on": measured_on} if measured_on else {})
        response = await metrics.client.post(url, json=body, headers=ADMIN)
        assert response.status_code == 201, response.text

    shown = (await kpis(metrics, plan_id))["kpis"][0]
    assert (shown["value"], shown["attained"]) == (81, True)
    assert shown["measured_at"] == f"{today.isoformat()}T00:00:00Z"  # default: today
    listed = (await history(metrics, plan_id, survey.id)).json()["items"]
    assert [m["value"] for m in listed] == [81, 70, 74]


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "value"),
        ({"value": "74"}, "value"),
        ({"value": True}, "value"),
        ({"value": None}, "value"),
        ({"value": 74, "measured_on": "last spring"}, "measured_on"),
        ({"value": 74, "measured_on": "2999-01-01"}, "measured_on"),  # not measured yet
        ({"value": 74, "note": "x" * 2001}, "note"),
        ({"value": 74, "source": "counted"}, "source"),  # not for the caller to say
    ],
    ids=[
        "no value",
        "value as text",
        "value true",
        "value null",
        "bad date",
        "future date",
        "long note",
        "unknown field",
    ],
)
async def test_bad_measurements_are_422_problems_naming_the_field(
    metrics: Metrics, body: dict, field: str
) -> None:
    plan_id = str(uuid.uuid4())
    survey = goal("user satisfaction", 75, "%")
    await approve(metrics, plan_id, [survey])

    response = await metrics.client.post(
        f"/v1/plans/{plan_id}/goals/{survey.id}/measurements", json=body, headers=PLANNER
    )

    assert_invalid(response, field)
    assert (await history(metrics, plan_id, survey.id)).json()["total"] == 0


async def test_unknown_goals_counted_goals_and_wrong_roles_are_refused(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    reach, survey = goal("deliveries_sent", 3, "recipients"), goal("user satisfaction", 75, "%")
    await approve(metrics, plan_id, [reach, survey])
    body = {"value": 74}

    def post(plan: str, goal_id: str, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        return metrics.client.post(
            f"/v1/plans/{plan}/goals/{goal_id}/measurements", json=body, headers=headers
        )

    assert_problem(await post(plan_id, str(uuid.uuid4()), PLANNER), 404)
    assert_problem(await post(str(uuid.uuid4()), survey.id, PLANNER), 404)  # another plan's
    assert_problem(await history(metrics, plan_id, "no-such-goal"), 404)
    counted = assert_invalid(await post(plan_id, reach.id, PLANNER), "goal_id")
    assert "counted" in counted["detail"]
    for role in ("communicator", "event_manager"):
        assert_problem(await post(plan_id, survey.id, auth(role)), 403)
    for credentials in BAD_CREDENTIALS.values():
        assert_unauthorized(await post(plan_id, survey.id, credentials))
        assert_unauthorized(
            await metrics.client.get(f"/v1/plans/{plan_id}/kpis", headers=credentials)
        )
    assert (await post(plan_id, survey.id, ADMIN)).status_code == 201
    assert (await post(plan_id, survey.id, ANALYST)).status_code == 201
    assert (await history(metrics, plan_id, survey.id)).json()["total"] == 2
    assert (await history(metrics, plan_id, reach.id)).json()["total"] == 0


async def test_kpis_of_a_plan_not_approved_yet_are_an_empty_list(metrics: Metrics) -> None:
    unknown = str(uuid.uuid4())
    assert await kpis(metrics, unknown) == {"plan_id": unknown, "kpis": []}


# --- operations ------------------------------------------------------------------------------


async def test_goals_by_state_are_a_prometheus_gauge(metrics: Metrics) -> None:
    plan_id = str(uuid.uuid4())
    survey = goal("user satisfaction", 75, "%")
    await approve(metrics, plan_id, [survey, goal("activities_due", 4, "activities")])
    response = await metrics.client.post(
        f"/v1/plans/{plan_id}/goals/{survey.id}/measurements", json={"value": 80}, headers=PLANNER
    )
    assert response.status_code == 201, response.text
    async with runtime_of(metrics.app).sessions() as session:
        goals = await session.scalar(select(func.count()).select_from(KpiGoal))

    def states(text: str) -> dict[str, float]:
        prefix = 'budskab_kpi_goals{state="'
        lines = [line.removeprefix(prefix) for line in text.splitlines() if line.startswith(prefix)]
        return {line.split('"')[0]: float(line.rsplit(" ", 1)[1]) for line in lines}

    shown = await eventually(
        lambda: metrics.client.get("/metrics"),
        lambda r: sum(states(r.text).values()) == goals and states(r.text)["attained"] >= 1,
    )
    series = [line for line in shown.text.splitlines() if line.startswith("budskab_kpi_goals{")]
    assert len(series) == 3  # one per state, none per plan or goal
    assert set(states(shown.text)) == {"attained", "below_target", "unmeasured"}
