"""Builders and factories the test modules share, one section per service: an app set up
for tests, the case's data, and the messages a foreign producer would publish. Test modules
import these from here, never from one another."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from services.events.app import create_app as create_events_app
from services.events.settings import EventsSettings
from services.planning.app import create_app as create_planning_app
from services.planning.settings import PlanningSettings
from shared import topics
from shared.contracts import EventData, new_envelope
from shared.contracts.notifications import DeliverySent
from shared.contracts.planning import GoalRef, PlanApproved, PlanRevised
from tests.api import UNREACHABLE_BROKER
from tests.helpers import auth, eventually, produce, runtime_of, settings_for

# --- planning --------------------------------------------------------------------------------


def planning_app(database_url: str, **extra: Any):  # type: ignore[no-untyped-def]
    """Planning without its due timer: the factory plan's activities (in 2016) fall due as
    soon as it is approved, and a timer round that comes late (its first one waits for the
    SQLite write lock behind the test's requests) would make an approved plan active."""
    app = create_planning_app(
        settings_for(PlanningSettings, database_url, UNREACHABLE_BROKER, **extra)
    )
    app.state.runtime.workers.clear()
    return app


# --- events ----------------------------------------------------------------------------------

MANAGER = auth("event_manager")
EVENTS_NOW = datetime(2016, 1, 4, 9, tzinfo=UTC)  # the clock of every `events_app`
INNOVATION_DAY = {
    "title": "Velfærdens innovationsdag",
    "description": "Nye måder at skabe velfærd på – med oplæg og workshops.",
    "format": "theme_day",
    "starts_at": "2016-01-20T08:00:00+00:00",
    "ends_at": "2016-01-20T15:00:00+00:00",
    "capacity": 2,
    "venue": "Aarhus Rådhus",
    "address": "Rådhuspladsen 2, 8000 Aarhus C",
    "accessibility": "Niveaufri adgang og teleslynge i salen.",
}


def person(name: str, **extra: object) -> dict[str, object]:
    email = name.lower().replace(" ", ".") + "@aarhus.dk"
    return {"name": name, "email": email, "consent": True, **extra}


def events_app(database_url: str, **settings: object):  # type: ignore[no-untyped-def]
    app = create_events_app(
        settings_for(
            EventsSettings,
            database_url,
            UNREACHABLE_BROKER,
            registration_rate_limit=settings.pop("registration_rate_limit", "10000/minute"),
            **settings,
        )
    )
    runtime_of(app).clock = lambda: EVENTS_NOW
    return app


async def published_event(client: httpx.AsyncClient, **changes: object) -> str:
    created = await client.post("/v1/events", json={**INNOVATION_DAY, **changes}, headers=MANAGER)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    assert (await client.post(f"/v1/events/{event_id}/publish", headers=MANAGER)).status_code == 200
    return event_id


async def mailed_link(app: FastAPI, email: str, event_id: str | None = None) -> str:
    """The personal link in the latest message about a registration (for `event_id`, or
    any event) the events service has for `email`: its events on the outbox, which the
    notifications service turns into e-mails."""
    runtime = runtime_of(app)
    outbox = runtime.outbox
    async with runtime.sessions() as session:
        payloads = await session.scalars(
            select(outbox.c.payload)
            .where(outbox.c.type.startswith("registration."))
            .order_by(outbox.c.position)
        )
        messages = [json.loads(p)["data"] for p in payloads]
    links = [
        m["attendee"]["link"]
        for m in messages
        if m.get("attendee")
        and m["attendee"]["email"] == email.lower()
        and event_id in (None, m["event_id"])
    ]
    assert links, f"no message to {email}"
    return links[-1]


async def register(
    client: httpx.AsyncClient, app: FastAPI, event_id: str, name: str, **extra: object
) -> dict[str, Any]:
    """`name` registers as anyone can. The answer says nothing of the outcome (that goes by
    e-mail), so the registration is read as its owner reads it: through the link in their
    e-mail. Returns what the owner sees, with the link's `token`."""
    details = person(name, **extra)
    response = await client.post(f"/v1/events/{event_id}/registrations", json=details)
    assert response.status_code == 202, response.text
    link = await mailed_link(app, str(details["email"]), event_id)
    token = urlsplit(link).path.rsplit("/", 1)[1]
    own = await client.get(f"/v1/registrations/{token}")
    assert own.status_code == 200, own.text
    return {**own.json(), "token": token}


# --- metrics ---------------------------------------------------------------------------------

ANALYST = auth("analyst")
METRICS_NOW = datetime.now(UTC)  # when planning approved and notifications sent


@dataclass
class Metrics:
    """A metrics service on its own broker (the `metrics` fixture, tests/integration/conftest.py)."""

    app: FastAPI
    client: httpx.AsyncClient
    bootstrap: str


def envelope(data: EventData, subject: str) -> bytes:
    made = new_envelope(data, source="/tests", subject=subject, correlation_id=f"corr-{subject}")
    return made.model_dump_json().encode()


def goal(metric: str, target: float, unit: str, **extra) -> GoalRef:  # type: ignore[no-untyped-def]
    return GoalRef(id=str(uuid.uuid4()), metric=metric, target=target, unit=unit, **extra)


def plan_approved(plan_id: str, goals: list[GoalRef]) -> tuple[bytes, bytes]:
    data = PlanApproved(
        plan_id=plan_id,
        title="Tendens 2015",
        owner="Beskæftigelsesregion Midtjylland",
        sender="Regionen",
        approved_by="planner",
        approved_at=METRICS_NOW,
        activity_ids=[],
        goals=goals,
    )
    return plan_id.encode(), envelope(data, plan_id)


def plan_revised(plan_id: str, version: int, goals: list[GoalRef]) -> tuple[bytes, bytes]:
    data = PlanRevised(
        plan_id=plan_id,
        version=version,
        change="goal changed",
        reason="the council asked",
        agreed_by="direktionen",
        revised_by="planner",
        revised_at=METRICS_NOW,
        activity_ids=[],
        goals=goals,
    )
    return plan_id.encode(), envelope(data, plan_id)


async def kpis(m: Metrics, plan_id: str) -> dict:
    response = await m.client.get(f"/v1/plans/{plan_id}/kpis", headers=ANALYST)
    assert response.status_code == 200, response.text
    return response.json()


async def approve(m: Metrics, plan_id: str, goals: list[GoalRef]) -> dict:
    """Produce plan.approved and wait until the service keeps the goals."""
    await produce(m.bootstrap, topics.PLANS, [plan_approved(plan_id, goals)])
    return await eventually(lambda: kpis(m, plan_id), lambda k: len(k["kpis"]) == len(goals))


# --- notifications' deliveries, for the consumer tests -----------------------------------------


def delivery_sent_value(plan_id: str) -> bytes:
    """A delivery.sent.v1 envelope (always delivery d-1), as the bytes of a record's value."""
    data = DeliverySent(
        delivery_id="d-1",
        activity_id="a-1",
        plan_id=plan_id,
        contact_id="c-1",
        channel="newsletter",
        sent_at=datetime.now(UTC),
    )
    made = new_envelope(data, source="/tests", subject="d-1", correlation_id="corr-1")
    return made.model_dump_json().encode()
