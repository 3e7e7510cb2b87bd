"""Webhooks to subscribing systems over real HTTP: a send on the webhook channel is posted to
each system subscribed to the audience, signed as Standard Webhooks say (checked here by hand
from the spec, and by the reference library a receiver would use), with a `webhook-id` that
stays the same when a failed post is tried again; 410 Gone ends it; a removed subscription
gets nothing more."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from services.notifications.app import create_app
from services.notifications.fanout import fan_out_page
from services.notifications.sender import channels_for, send_due
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Delivery
from tests.helpers import auth, listening, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

COMMUNICATOR = auth("communicator")


class Receiver:
    """Two subscribing systems on one local server: Aarhus' intranet (fails its first post
    with a 503) and an old CMS that answers 410 Gone."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.app = FastAPI()

        @self.app.post("/{system}")
        async def receive(system: str, request: Request) -> Response:
            self.posts.append((system, dict(request.headers), await request.body()))
            if system == "old-cms":
                return Response(status_code=410)
            if system == "intranet" and len(self.of("intranet")) == 1:
                return Response(status_code=503)
            return Response(status_code=204)

    def of(self, system: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for s, h, b in self.posts if s == system]


def signed_by_hand(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The spec's signature: base64(HMAC-SHA256(key, "id.timestamp.body")), key = the
    secret's base64 after whsec_."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{expected}"


async def test_a_webhook_send_is_posted_signed_to_each_subscriber_once(database_url: str) -> None:
    receiver = Receiver()
    settings = settings_for(
        NotificationsSettings,
        database_url,
        "127.0.0.1:1",
        webhook_allow_local=True,
        send_retry_base_seconds=0.01,
    )
    app = create_app(settings)
    runtime = runtime_of(app)
    runtime.workers.clear()  # this test fans out and sends
    now = datetime.now(UTC)  # a receiver checks a post's time against its own clock
    runtime.clock = lambda: now
    async with listening(receiver.app, lifespan=False) as base, serving(app) as client:
        subscribed = {}
        for system in ("intranet", "old-cms", "removed"):
            answer = await client.post(
                "/v1/webhooks",
                json={
                    "audience_id": "aarhus-medarbejdere",
                    "url": f"{base}/{system}",
                    "description": f"Aarhus {system}",
                },
                headers=COMMUNICATOR,
            )
            assert answer.status_code == 201, answer.text
            subscribed[system] = answer.json()
        created = await client.post(
            "/v1/sends",
            json={
                "audience_id": "aarhus-medarbejdere",
                "channel": "webhook",
                "subject": "Kommune forfra: ny strategi",
                "body": "Byrådet har vedtaget Aarhus Kommunes nye kommunikationsstrategi.",
            },
            headers=COMMUNICATOR,
        )
        assert created.status_code == 201, created.text
        send_id = created.json()["id"]
        assert created.json()["recipients"] == 3

        while await fan_out_page(runtime):
            pass
        removed = await client.delete(  # after its delivery was written: it is not posted
            f"/v1/webhooks/{subscribed['removed']['id']}", headers=COMMUNICATOR
        )
        listed = (
            await client.get(
                "/v1/webhooks", params={"audience_id": "aarhus-medarbejdere"}, headers=COMMUNICATOR
            )
        ).json()
        channels = channels_for(settings)
        for _ in range(5):  # the intranet's 503 is due again after its backoff
            await send_due(runtime, channels)
            async with runtime.sessions.begin() as session:
                await session.execute(update(Delivery).values(next_attempt_at=now))
        await channels["webhook"].transport.close()
        public = (await client.get(f"/v1/sends/{send_id}", headers=COMMUNICATOR)).json()
        async with runtime.sessions() as session:
            ledger = {
                d.webhook_id: d
                for d in await session.scalars(select(Delivery).where(Delivery.send_id == send_id))
            }

    assert removed.status_code == 204
    assert sorted(w["description"] for w in listed) == ["Aarhus intranet", "Aarhus old-cms"]
    assert all("secret" not in w for w in listed)  # shown once, when subscribed
    intranet, cms = subscribed["intranet"], subscribed["old-cms"]
    assert intranet["secret"].startswith("whsec_") and intranet["secret"] != cms["secret"]

    posts = receiver.of("intranet")
    assert len(posts) == 2  # the 503, then the post it took
    (first, first_body), (second, second_body) = posts
    assert first["webhook-id"] == second["webhook-id"] == ledger[intranet["id"]].id
    assert first_body == second_body  # the same message: the receiver drops a copy by its id
    for headers, body in posts:
        assert headers["content-type"] == "application/json"
        assert signed_by_hand(intranet["secret"], headers, body)
        assert not signed_by_hand(cms["secret"], headers, body)
    message = json.loads(second_body)
    assert message["type"] == "send.message" and message["id"] == second["webhook-id"]
    assert message["data"]["subject"] == "Kommune forfra: ny strategi"
    assert message["data"]["send_id"] == send_id
    # the reference library verifies what was posted, as a receiver would
    assert Verifier(intranet["secret"]).verify(second_body, second)["id"] == second["webhook-id"]
    with pytest.raises(WebhookVerificationError):
        Verifier(cms["secret"]).verify(second_body, second)

    assert len(receiver.of("old-cms")) == 1  # Gone: not tried again
    assert receiver.of("removed") == []
    assert (ledger[intranet["id"]].status, ledger[intranet["id"]].attempts) == ("sent", 2)
    assert (ledger[cms["id"]].status, ledger[cms["id"]].attempts) == ("failed", 1)
    assert "410" in (ledger[cms["id"]].last_error or "")
    gone = ledger[subscribed["removed"]["id"]]
    assert gone.status == "failed" and "the webhook was removed" in (gone.last_error or "")
    assert public["status"] == "completed"
    assert (public["counts"]["sent"], public["counts"]["failed"]) == (1, 2)


async def test_a_webhook_url_is_checked(database_url: str) -> None:
    settings = settings_for(NotificationsSettings, database_url, "127.0.0.1:1")
    app = create_app(settings)
    runtime_of(app).workers.clear()
    async with serving(app) as client:
        answers = [
            await client.post(
                "/v1/webhooks", json={"audience_id": "a", "url": url}, headers=COMMUNICATOR
            )
            for url in (
                "http://intranet.aarhus.example/hook",  # plain http: not here
                "ftp://intranet.aarhus.example/hook",
                "https://user:pw@intranet.aarhus.example/hook",
                "https:///no-host",
                "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
                "https://localhost:5432/",
                "https://10.0.0.1/hook",
                "https://[::1]/hook",
                "https://exa mple.com/hook",
                "https://intranet.aarhus.example:99999/hook",
                "https://intranet.aarhus.example/hook\nX-Evil: 1",
            )
        ]
        by_analyst = await client.post(
            "/v1/webhooks",
            json={"audience_id": "a", "url": "https://intranet.aarhus.example/hook"},
            headers=auth("analyst"),
        )
        missing = await client.delete("/v1/webhooks/nope", headers=COMMUNICATOR)
        listed = await client.get("/v1/webhooks", headers=COMMUNICATOR)
    assert [a.status_code for a in answers] == [422] * 11
    assert "must be an https address" in answers[0].text
    assert "user name or password" in answers[2].text
    assert all("not a local address" in a.text for a in answers[4:8])
    assert by_analyst.status_code == 403
    assert missing.status_code == 404
    assert listed.json() == []
