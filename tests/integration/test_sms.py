"""Text messages through a real (local) HTTP gateway shaped like GatewayAPI's: an SMS send
reaches each contact who consented to SMS once, on their phone; a throttled number is tried
again, never dropped; a number the gateway calls invalid fails; nobody is texted at night,
while e-mail goes on."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select, update

from scripts.stack import SmsSink, SmtpSink
from services.notifications.app import create_app
from services.notifications.contacts import import_chunk
from services.notifications.domain import address_hash
from services.notifications.fanout import fan_out_page
from services.notifications.sender import channels_for, send_due
from services.notifications.settings import NotificationsSettings
from services.notifications.suppressions import suppress
from services.notifications.tables import Contact, Delivery
from tests.helpers import auth, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

# Silkeborg's citizens' panel, told that the survey on the new library opens
PANEL = [
    ("Karen Holm", "+4521000001", True),
    ("Jonas Riis", "+4521000002", True),
    ("Fatima Ali", "+4521000003", True),
    ("Ole Dam", "+4521000099", True),  # the gateway calls his number invalid
    ("Birthe Lund", "+4521000004", False),  # a phone, but no consent to SMS
    ("Per Krogh", None, False),  # e-mail only
]
TEXT = "Silkeborg Kommune: Borgerpanelets undersøgelse om det nye bibliotek er åben til 1. maj."


MORNING = datetime(2026, 4, 14, 9, 0, tzinfo=UTC)  # 11:00 in Silkeborg


def service(database_url: str, sms_sink: SmsSink | None = None, **extra):  # type: ignore[no-untyped-def]
    """The notifications service texting through `sms_sink` (none: no gateway), its clock
    at MORNING, no workers: the test fans out and sends."""
    gateway = (
        {"sms_gateway_url": sms_sink.url, "sms_gateway_token": sms_sink.token} if sms_sink else {}
    )
    settings = settings_for(NotificationsSettings, database_url, "127.0.0.1:1", **gateway | extra)
    app = create_app(settings)
    runtime = runtime_of(app)
    runtime.workers.clear()
    runtime.clock = lambda: MORNING
    return settings, app, runtime


async def add_panel(client) -> None:  # type: ignore[no-untyped-def]
    for i, (name, phone, sms) in enumerate(PANEL):
        response = await client.post(
            "/v1/contacts",
            json={
                "email": f"panel{i}@silkeborg.example",
                "name": name,
                "phone": phone,
                "email_consent": True,
                "sms_consent": sms,
                "audience_ids": ["borgerpanel"],
            },
            headers=auth("communicator"),
        )
        assert response.status_code == 201, response.text


async def send(client, channel: str = "sms", body: str = TEXT):  # type: ignore[no-untyped-def]
    return await client.post(
        "/v1/sends",
        json={
            "audience_id": "borgerpanel",
            "channel": channel,
            "subject": "Borgerpanel: bibliotek",
            "body": body,
        },
        headers=auth("communicator"),
    )


async def deliveries_of(app, send_id: str) -> list[Delivery]:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return list(await session.scalars(select(Delivery).where(Delivery.send_id == send_id)))


async def test_an_sms_send_texts_each_consenting_contact_once(
    database_url: str, sms_sink: SmsSink
) -> None:
    sms_sink.throttle = 1  # every number is throttled once (429) before it is taken
    sms_sink.refuse = frozenset({"+4521000099"})
    settings, app, runtime = service(
        database_url, sms_sink, sms_sender="Silkeborg", send_retry_base_seconds=0.01
    )
    async with serving(app) as client:
        await add_panel(client)
        created = await send(client)
        assert created.status_code == 201, created.text
        send_id = created.json()["id"]
        assert created.json()["recipients"] == 4  # consented to SMS, with a phone
        assert created.json()["sms_parts"] == 1  # 87 characters of GSM text

        while await fan_out_page(runtime):
            pass
        channels = channels_for(settings)
        for _ in range(10):  # the throttled are due again after their backoff
            await send_due(runtime, channels)
            async with runtime.sessions.begin() as session:
                await session.execute(update(Delivery).values(next_attempt_at=runtime.clock()))
        await channels["sms"].transport.close()

        public = (await client.get(f"/v1/sends/{send_id}", headers=auth("communicator"))).json()
        listed = await client.get(
            "/v1/deliveries", params={"send_id": send_id}, headers=auth("communicator")
        )

    assert sorted(m["to"] for m in sms_sink.messages) == [
        "+4521000001",
        "+4521000002",
        "+4521000003",
    ]
    assert all(m["message"] == TEXT and m["sender"] == "Silkeborg" for m in sms_sink.messages)
    assert sms_sink.throttled == dict.fromkeys(["+4521000001", "+4521000002", "+4521000003"], 1)
    ledger = await deliveries_of(app, send_id)
    assert sorted((d.status, d.attempts) for d in ledger) == [
        ("failed", 1),  # an invalid number: refused for good, not tried again
        ("sent", 2),
        ("sent", 2),
        ("sent", 2),
    ]
    assert public["status"] == "completed"
    assert public["counts"] | {} == {
        "pending": 0,
        "sent": 3,
        "failed": 1,
        "suppressed": 0,
        "bounced": 0,
        "cancelled": 0,
    }
    assert {d["channel"] for d in listed.json()["items"]} == {"sms"}
    [failed] = [d for d in listed.json()["items"] if d["status"] == "failed"]
    assert "GatewayRefused" in failed["last_error"] and "400" in failed["last_error"]


async def test_nobody_is_texted_at_night_while_email_goes_on(
    database_url: str, sms_sink: SmsSink, smtp_sink: SmtpSink
) -> None:
    """SMS quiet hours (21:00–08:00 Danish time, the default) hold back a text message; an
    e-mail send at the same hour goes (its own quiet hours are not set)."""
    settings, app, runtime = service(database_url, sms_sink, smtp_port=smtp_sink.port)
    runtime.clock = lambda: datetime(2026, 12, 2, 21, 30, tzinfo=UTC)  # 22:30 in Copenhagen
    async with serving(app) as client:
        await add_panel(client)
        assert (await send(client, "sms")).status_code == 201
        assert (await send(client, "email", "Læs mere på silkeborg.dk.")).status_code == 201
        while await fan_out_page(runtime):
            pass
        channels = channels_for(settings)
        assert await send_due(runtime, channels) == len(PANEL)  # the e-mails only
        assert await send_due(runtime, channels) == 0  # the texts wait
        assert len(smtp_sink.messages) == len(PANEL) and sms_sink.messages == []

        runtime.clock = lambda: datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # 08:00 in Copenhagen
        assert await send_due(runtime, channels) == 4
        for channel in {c.transport for c in channels.values()}:
            await channel.close()
    assert len(sms_sink.messages) == 4


async def test_without_a_gateway_a_text_waits_and_says_why(database_url: str) -> None:
    settings, app, runtime = service(database_url)
    async with serving(app) as client:
        await add_panel(client)
        send_id = (await send(client)).json()["id"]
        while await fan_out_page(runtime):
            pass
        assert await send_due(runtime, channels_for(settings)) == 4
    ledger = await deliveries_of(app, send_id)
    assert {(d.status, d.attempts) for d in ledger} == {("pending", 1)}
    assert all("no SMS gateway is configured" in (d.last_error or "") for d in ledger)
    assert all(d.next_attempt_at > runtime.clock() + timedelta(seconds=0.5) for d in ledger)


async def test_sms_input_is_checked(database_url: str) -> None:
    _, app, _ = service(database_url)
    async with serving(app) as client:
        no_phone = await client.post(
            "/v1/contacts",
            json={
                "email": "a@silkeborg.example",
                "name": "A",
                "email_consent": True,
                "sms_consent": True,
            },
            headers=auth("communicator"),
        )
        too_long = await send(client, body="x" * 613)
        listed = await client.get("/v1/sends", headers=auth("communicator"))
    assert no_phone.status_code == 422
    assert "SMS consent needs a phone number" in no_phone.text
    assert too_long.status_code == 422
    assert "at most 612 characters" in too_long.text
    assert listed.json()["items"] == []


async def test_a_bounced_address_stops_no_text_and_an_unsubscribe_only_on_the_public_task(
    database_url: str, sms_sink: SmsSink
) -> None:
    """Karen's mailbox bounced (it says nothing of her phone); Jonas unsubscribed. On consent,
    their SMS consent decides: both are texted. On the public task, Jonas' unsubscribe is an
    objection to being told at all: only Karen is texted."""
    settings, app, runtime = service(database_url, sms_sink)
    async with serving(app) as client:
        await add_panel(client)
        async with runtime.uow() as uow:
            for email, reason in [
                ("panel0@silkeborg.example", "bounced"),
                ("panel1@silkeborg.example", "unsubscribed"),
            ]:
                await suppress(uow, address_hash(email), reason)
            await uow.commit()
        channels = channels_for(settings)
        texted = []
        for basis in ("consent", "public_task"):
            answer = await client.put(
                "/v1/audiences/borgerpanel",
                json={"lawful_basis": basis, "basis_note": "Lov om kommunernes styrelse"},
                headers=auth("communicator"),
            )
            assert answer.status_code == 200, answer.text
            sms_sink.messages.clear()
            assert (await send(client)).status_code == 201
            while await fan_out_page(runtime):
                pass
            while await send_due(runtime, channels):
                pass
            texted.append(sorted(m["to"] for m in sms_sink.messages))
        await channels["sms"].transport.close()
    everyone = ["+4521000001", "+4521000002", "+4521000003", "+4521000099"]
    assert texted[0] == everyone  # on consent: the suppressions are of e-mail
    # on the public task: every phone (Birthe's too, no consent asked) but Jonas'
    assert texted[1] == sorted({*everyone, "+4521000004"} - {"+4521000002"})


async def test_texts_keep_the_gateways_pace(database_url: str, sms_sink: SmsSink) -> None:
    """At SMS_RATE_PER_SECOND 2, the four texts go as a second's worth at once, then two more
    at two a second: a second at the least; none is dropped."""
    settings, app, runtime = service(database_url, sms_sink, sms_rate_per_second=2)
    async with serving(app) as client:
        await add_panel(client)
        send_id = (await send(client)).json()["id"]
        while await fan_out_page(runtime):
            pass
        channels = channels_for(settings)
        started = time.monotonic()
        assert await send_due(runtime, channels) == 4
        took = time.monotonic() - started
        await channels["sms"].transport.close()
    assert len(sms_sink.messages) == 4
    assert all(d.status == "sent" for d in await deliveries_of(app, send_id))
    assert took >= 0.9, took


REPLY_SECRET = "the-secret-gatewayapi-signs-replies-with"


def reply(msisdn: int, message: str, reply_id: int | None = None) -> dict[str, object]:
    """A reply as GatewayAPI's MO webhook posts it (fields we do not read included)."""
    return {
        "id": reply_id or 1000 + msisdn % 1000,
        "msisdn": msisdn,
        "receiver": 4512345678,
        "message": message,
        "senttime": 1776150000,
        "webhook_label": "budskab",
    }


def signed(body: dict[str, object], secret: str = REPLY_SECRET) -> dict[str, str]:
    """The header GatewayAPI sends with each reply it forwards: the reply itself as a JWT,
    signed with the webhook's secret."""
    return {"X-Gwapi-Signature": jwt.encode(body, secret, algorithm="HS256")}


async def post_reply(client, body: dict[str, object], headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return await client.post("/v1/sms/replies", json=body, headers=signed(body) | (headers or {}))


async def imported(client, runtime, content: bytes) -> tuple[dict, list[list[str]]]:  # type: ignore[no-untyped-def]
    """A file imported into the panel, its job driven here; the job, and its refused rows."""
    communicator = auth("communicator")
    started = await client.post(
        "/v1/contact-imports",
        params={"audience_id": "borgerpanel"},
        content=content,
        headers={**communicator, "Content-Type": "text/csv"},
    )
    assert started.status_code == 202, started.text
    while await import_chunk(runtime):
        pass
    job = (await client.get(started.headers["Location"], headers=communicator)).json()
    errors = (await client.get(job["errors_url"], headers=communicator)).text
    return job, list(csv.reader(io.StringIO(errors)))[1:]


async def test_a_reply_of_stop_withdraws_that_numbers_sms_consent(database_url: str) -> None:
    """Replying STOP to a text (any case, words after it) takes the number off every later
    SMS send, kept in the contact's consent history; another reply changes nothing; a reply
    not signed with the gateway's secret is refused, and without a secret none is taken."""
    _, app, runtime = service(database_url, sms_reply_secret=REPLY_SECRET)
    async with serving(app) as client:
        await add_panel(client)
        stop = reply(4521000001, "STOP")
        thanks_from_jonas = signed(reply(4521000002, "Tak"))
        for forged in (
            {"X-Gwapi-Signature": ""},
            signed(stop, "another-secret-that-is-not-the-gateways"),
            {"X-Gwapi-Signature": "not-a-jwt"},
            thanks_from_jonas,  # signed, but for another reply
        ):
            refused = await post_reply(client, stop, forged)
            assert refused.status_code == 401, refused.text
        thanks = await post_reply(client, reply(4521000001, "Tak for info"))
        assert thanks.json() == {"stopped": 0, "resumed": 0, "repeated": False}
        stopped = await post_reply(client, reply(4521000001, "stop tak"))
        assert stopped.json() == {"stopped": 1, "resumed": 0, "repeated": False}
        again = await post_reply(client, stop)  # the same reply (its id) again
        assert again.json() == {"stopped": 0, "resumed": 0, "repeated": True}
        once_more = await post_reply(client, reply(4521000001, "STOP", reply_id=2001))
        assert once_more.json() == {"stopped": 0, "resumed": 0, "repeated": False}  # stopped
        unknown = await post_reply(client, reply(4599999999, "STOP"))
        assert unknown.json() == {"stopped": 0, "resumed": 0, "repeated": False}
        # the number is remembered: whoever has it later is not texted, nor given consent
        newcomer = {
            "email": "ny.borger@silkeborg.example",
            "name": "Ny Borger",
            "phone": "+4599999999",
            "email_consent": True,
            "sms_consent": True,
            "audience_ids": ["borgerpanel"],
        }
        refused = await client.post("/v1/contacts", json=newcomer, headers=auth("communicator"))
        assert refused.status_code == 422, refused.text
        assert "replied STOP" in refused.json()["detail"], refused.text
        added = await client.post(
            "/v1/contacts", json=newcomer | {"sms_consent": False}, headers=auth("communicator")
        )
        assert added.status_code == 201, added.text
        assert added.json()["sms_stopped_at"] is not None, added.text

        created = await send(client)
        assert created.json()["recipients"] == 3, created.text  # of 4 who had consented
        job, errors = await imported(
            client,
            runtime,
            b"email,navn,samtykke,sms samtykke\npanel0@silkeborg.example,Karen Holm,ja,ja\n",
        )
        assert job["rejected"] == 1 and "replied STOP" in errors[0][1], errors
        grounded = await client.put(
            "/v1/audiences/borgerpanel",
            json={"lawful_basis": "public_task", "basis_note": "Lov om kommunernes styrelse"},
            headers=auth("communicator"),
        )
        assert grounded.status_code == 200, grounded.text
        on_public_task = await send(client)
        # every phone but the two that said STOP (the newcomer's before it was theirs)
        assert on_public_task.json()["recipients"] == 4, on_public_task.text
        async with runtime.sessions() as session:
            karen = await session.scalar(select(Contact.id).where(Contact.phone == "+4521000001"))
        contact = (await client.get(f"/v1/contacts/{karen}", headers=auth("communicator"))).json()
    assert contact["sms_consent"] is False
    assert [(c["channel"], c["granted"], c["source"]) for c in contact["consent_history"]][-1] == (
        "sms",
        False,
        "sms reply 1001",
    )

    _, without_secret, _ = service(database_url)
    async with serving(without_secret) as client:
        closed = await post_reply(client, reply(4521000002, "STOP"))
    assert closed.status_code == 503, closed.text


async def test_a_start_from_a_stopped_number_gives_its_texts_back_and_a_replay_cannot_undo_it(
    database_url: str,
) -> None:
    """START (or TILMELD) from a number that said STOP lifts the stop and gives back the SMS
    consent the STOP withdrew (not to one who never gave it), in the consent history; the
    earlier STOP posted again (a gateway's retry, or a replay of the signed reply) changes
    nothing."""
    _, app, runtime = service(database_url, sms_reply_secret=REPLY_SECRET)
    communicator = auth("communicator")
    async with serving(app) as client:
        await add_panel(client)
        stop = reply(4521000001, "Stop", reply_id=5001)
        assert (await post_reply(client, stop)).json()["stopped"] == 1
        async with runtime.sessions() as session:
            karen = await session.scalar(select(Contact.id).where(Contact.phone == "+4521000001"))
        stopped = (await client.get(f"/v1/contacts/{karen}", headers=communicator)).json()
        assert (await send(client)).json()["recipients"] == 3

        start = await post_reply(client, reply(4521000001, "start", reply_id=5002))
        assert start.json() == {"stopped": 0, "resumed": 1, "repeated": False}
        replayed = await post_reply(client, stop)
        assert replayed.json() == {"stopped": 0, "resumed": 0, "repeated": True}
        resumed = (await client.get(f"/v1/contacts/{karen}", headers=communicator)).json()
        created = await send(client)
        # Birthe never gave SMS consent: a START lifts her number's stop, and gives none
        await post_reply(client, reply(4521000004, "STOP", reply_id=5003))
        birthe_starts = await post_reply(client, reply(4521000004, "Start", reply_id=5004))
        async with runtime.sessions() as session:
            birthe = await session.scalar(select(Contact).where(Contact.phone == "+4521000004"))
    assert stopped["sms_stopped_at"] is not None and stopped["sms_consent"] is False
    assert resumed["sms_stopped_at"] is None and resumed["sms_consent"] is True
    history = [(c["granted"], c["source"]) for c in resumed["consent_history"]]
    assert history[-2:] == [(False, "sms reply 5001"), (True, "sms reply 5002")], history
    assert created.json()["recipients"] == 4, created.text  # Karen among them again
    assert birthe_starts.json() == {"stopped": 0, "resumed": 0, "repeated": False}
    assert birthe is not None and birthe.sms_consent is False


async def test_a_stop_that_comes_after_the_fan_out_still_stops_the_text(
    database_url: str, sms_sink: SmsSink
) -> None:
    """A send's texts may wait (the night, a throttled gateway) after the fan-out chose
    whom they go to: a STOP meanwhile is heeded when the text would go — suppressed, not sent."""
    settings, app, runtime = service(database_url, sms_sink, sms_reply_secret=REPLY_SECRET)
    async with serving(app) as client:
        await add_panel(client)
        created = await send(client)
        send_id = created.json()["id"]
        while await fan_out_page(runtime):
            pass
        assert (await post_reply(client, reply(4521000002, "STOP"))).json()["stopped"] == 1
        channels = channels_for(settings)
        await send_due(runtime, channels)
        await channels["sms"].transport.close()
    assert sorted(m["to"] for m in sms_sink.messages) == [
        "+4521000001",
        "+4521000003",
        "+4521000099",
    ]
    statuses = sorted(d.status for d in await deliveries_of(app, send_id))
    assert statuses == ["sent", "sent", "sent", "suppressed"]


async def test_a_file_without_phones_gives_sms_consent_only_to_the_phones_on_record(
    database_url: str,
) -> None:
    """A re-import of consents, with no phone column, may give SMS consent to a contact
    whose phone is on record; for anyone else its row is refused, saying why."""
    _, app, runtime = service(database_url)
    async with serving(app) as client:
        await add_panel(client)  # Birthe Lund has a phone and no SMS consent; Per Krogh no phone
        job, errors = await imported(
            client,
            runtime,
            b"email,navn,samtykke,sms samtykke\n"
            b"panel4@silkeborg.example,Birthe Lund,ja,ja\n"
            b"panel5@silkeborg.example,Per Krogh,ja,ja\n"
            b"ny.borger@silkeborg.example,Ny Borger,ja,ja\n",
        )
        created = await send(client)
    assert (job["imported"], job["rejected"]) == (1, 2), job
    assert [line for line, _ in errors] == ["3", "4"]
    assert all("no phone on record" in reason for _, reason in errors)
    assert created.json()["recipients"] == 5  # the four who had consented, and Birthe
