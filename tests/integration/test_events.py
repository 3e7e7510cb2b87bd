"""The events service follows its activities: created, moved and cancelled, over the broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from scripts.stack import Tansu
from services.events.app import create_app
from services.events.settings import EventsSettings
from shared import topics
from shared.contracts import new_envelope
from shared.contracts.planning import (
    ActivityApproved,
    ActivityCancelled,
    ActivityRescheduled,
    AudienceRef,
    EventDetails,
    MessageRef,
)
from tests.helpers import auth, eventually, produce, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

INNOVATION_DAY = datetime(2016, 1, 20, 8, tzinfo=UTC)


def raw(data, subject: str = "a-1") -> bytes:  # type: ignore[no-untyped-def]
    return (
        new_envelope(data, source="/budskab/planning", subject=subject, correlation_id="c")
        .model_dump_json()
        .encode()
    )


async def test_an_event_moves_and_is_cancelled_with_its_activity(
    database_url: str, broker: Tansu
) -> None:
    app = create_app(settings_for(EventsSettings, database_url, broker.bootstrap))
    approved = ActivityApproved(
        activity_id="a-1",
        plan_id="p-1",
        title="Velfærdens innovationsdag",
        kind="event",
        channel="conference",
        starts_at=INNOVATION_DAY,
        audience=AudienceRef(id="dir", name="Kommunale direktører"),
        message=MessageRef(id="m", subject="Velfærd", body="Kom"),
        event=EventDetails(format="theme_day", capacity=300),
        partners=["Mandag Morgen", "KL"],
    )
    moved_to = datetime(2016, 2, 3, 8, tzinfo=UTC)
    async with serving(app) as client:

        async def the_event() -> dict:
            page = (
                await client.get("/v1/events", params={"plan_id": "p-1"}, headers=auth("analyst"))
            ).json()
            return page["items"][0] if page["items"] else {}

        await produce(broker.bootstrap, topics.ACTIVITIES, [(b"a-1", raw(approved))])
        created = await eventually(the_event, lambda e: e.get("status") == "draft")
        assert created["partners"] == ["Mandag Morgen", "KL"]  # co-organisers, from the plan
        await produce(
            broker.bootstrap,
            topics.ACTIVITIES,
            [
                (
                    b"a-1",
                    raw(
                        ActivityRescheduled(
                            activity_id="a-1",
                            plan_id="p-1",
                            title="Velfærdens innovationsdag",
                            kind="event",
                            previous_starts_at=INNOVATION_DAY,
                            starts_at=moved_to,
                            reason="venue taken",
                        )
                    ),
                )
            ],
        )
        await eventually(the_event, lambda e: datetime.fromisoformat(e["starts_at"]) == moved_to)
        await produce(
            broker.bootstrap,
            topics.ACTIVITIES,
            [
                (
                    b"a-1",
                    raw(
                        ActivityCancelled(
                            activity_id="a-1",
                            plan_id="p-1",
                            title="Velfærdens innovationsdag",
                            kind="event",
                            reason="merged",
                        )
                    ),
                )
            ]
            * 2,
        )
        await eventually(the_event, lambda e: e["status"] == "cancelled")
        outbox = runtime_of(app).outbox
        async with runtime_of(app).sessions() as session:
            types = list(await session.scalars(select(outbox.c.type).order_by(outbox.c.position)))
    assert types == [
        "event.created.v1",
        "event.rescheduled.v1",
        "event.cancelled.v1",
    ]  # cancelled once
