"""Build plans through the planning API, from the Aarhus case in DOMAIN.md."""

from __future__ import annotations

import httpx

from tests.helpers import auth

PLANNER = auth("planner")


async def create_plan(client: httpx.AsyncClient, base: str = "") -> dict:
    response = await client.post(
        f"{base}/v1/plans",
        json={
            "title": "Kommune forfra",
            "owner": "Borgmesterens Afdeling",
            "sender": "Aarhus Kommune",
        },
        headers=PLANNER,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def create_approvable_plan(client: httpx.AsyncClient, base: str = "") -> dict:
    """One goal, one audience, one message, one channel, and two activities: an event and a
    newsletter."""
    plan = await create_plan(client, base)
    url = f"{base}/v1/plans/{plan['id']}"

    async def post(path: str, body: dict) -> dict:
        response = await client.post(f"{url}{path}", json=body, headers=PLANNER)
        assert response.status_code == 201, response.text
        return response.json()

    goal = await post(
        "/goals",
        {
            "description": "Velfærdens innovationsdag er fuldt booket",
            "metric": "registrations",
            "target": 300,
            "unit": "participants",
            "deadline": "2016-01-20",
        },
    )
    audience = await post(
        "/audiences",
        {"name": "Kommunale medarbejdere", "kind": "staff", "needs": "Fagligt og brugbart"},
    )
    message = await post(
        "/messages",
        {
            "audience_id": audience["id"],
            "subject": "Rethink velfærd",
            "body": "Kom til innovationsdagen.",
        },
    )
    channel = await post("/channels", {"kind": "newsletter", "name": "Nyhedsbrev"})
    refs = {"audience_id": audience["id"], "message_id": message["id"], "channel_id": channel["id"]}
    event = await post(
        "/activities",
        {
            "title": "Velfærdens innovationsdag",
            "kind": "event",
            "starts_at": "2016-01-20T09:00:00+01:00",
            "event": {"format": "theme_day", "capacity": 300},
            **refs,
        },
    )
    newsletter = await post(
        "/activities",
        {
            "title": "Nyhedsbrev januar",
            "kind": "communication",
            "starts_at": "2016-01-05T08:00:00+01:00",
            **refs,
        },
    )
    return {
        "plan": plan,
        "goal": goal,
        "audience": audience,
        "message": message,
        "channel": channel,
        "event_activity": event,
        "newsletter_activity": newsletter,
    }
