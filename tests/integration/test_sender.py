"""Sends and the e-mail sender against a real SMTP server: an approved newsletter becomes a
send, fanned out to its audience and sent once to each contact; retried while the server is
away or throttles, given up after the bounded attempts with a delivery.failed event."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlalchemy import select, update

from scripts.stack import SmtpSink, free_port
from services.notifications.app import create_app
from services.notifications.fanout import fan_out_page
from services.notifications.handlers import on_activity_approved
from services.notifications.sender import channels_for, send_due
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Delivery, Send
from shared import topics
from shared.contracts import new_envelope, registry
from shared.contracts.planning import (
    ActivityApproved,
    ActivityCancelled,
    ActivityRescheduled,
    AudienceRef,
    MessageRef,
)
from tests.helpers import auth, eventually, produce, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration


def tendens_issue() -> bytes:
    data = ActivityApproved(
        activity_id="tendens-6",
        plan_id="brmj-2015",
        title="Tendens nr. 6",
        kind="communication",
        channel="newsletter",
        starts_at=datetime(2015, 11, 1, tzinfo=UTC),
        audience=AudienceRef(id="job-centres", name="Jobcentre i Midtjylland"),
        message=MessageRef(id="m", subject="Tendens: ledigheden falder", body="Nyt fra regionen."),
    )
    return (
        new_envelope(data, source="/tests", subject="tendens-6", correlation_id="c")
        .model_dump_json()
        .encode()
    )


async def deliveries(app) -> list[Delivery]:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.created_at)))


async def outbox_types(app) -> list[str]:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return list(
            await session.scalars(
                select(runtime_of(app).outbox.c.type).order_by(runtime_of(app).outbox.c.position)
            )
        )


async def sends_of(app) -> list[Send]:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return list(await session.scalars(select(Send).order_by(Send.scheduled_for)))


async def pending_delivery(runtime) -> None:  # type: ignore[no-untyped-def]
    """The pending deliveries of Tendens no. 6: the consumer's send, fanned out."""
    envelope, data = registry.parse(tendens_issue())
    async with runtime.uow() as uow:
        await on_activity_approved(uow, envelope, data)
        await uow.commit()
    while await fan_out_page(runtime):
        pass


async def add_contacts(client, n: int) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        response = await client.post(
            "/v1/contacts",
            json={
                "email": f"leder{i}@jobcenter.example",
                "name": f"Jobcenterleder {i}",
                "email_consent": True,
                "audience_ids": ["job-centres"],
            },
            headers=auth("communicator"),
        )
        assert response.status_code == 201, response.text


async def test_deliveries_are_sent_once_each(
    database_url: str, broker, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        NotificationsSettings, database_url, broker.bootstrap, smtp_port=smtp_sink.port
    )
    app = create_app(settings)
    async with serving(app) as client:
        await add_contacts(client, 3)
        await produce(broker.bootstrap, topics.ACTIVITIES, [(b"tendens-6", tendens_issue())] * 2)
        await eventually(
            lambda: deliveries(app), lambda ds: len(ds) == 3 and all(d.status == "sent" for d in ds)
        )
        [send] = await eventually(lambda: sends_of(app), lambda ss: ss[0].status == "completed")
        assert await send_due(runtime_of(app), channels_for(settings)) == 0  # nothing left to send
        # read while the service runs: its shutdown may leave SQLite locked for a moment
        assert sorted(await outbox_types(app)) == ["delivery.sent.v1"] * 3 + ["send.completed.v1"]
        progress = (await client.get(f"/v1/sends/{send.id}", headers=auth("analyst"))).json()
        # one comes back for good: reported, so that metrics takes it off the reach
        returned = smtp_sink.messages[0]
        report = {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "Email": returned["To"].addresses[0].addr_spec,
            "MessageID": returned["Message-ID"],
        }
        taken = await client.post("/v1/bounces", json=report, headers=auth("communicator"))
        [bounced] = [d for d in await deliveries(app) if d.status == "bounced"]
        async with runtime_of(app).sessions() as session:
            [payload] = await session.scalars(
                select(runtime_of(app).outbox.c.payload).where(
                    runtime_of(app).outbox.c.type == "delivery.bounced.v1"
                )
            )
    assert len(smtp_sink.messages) == 3
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 3
    assert progress["counts"]["sent"] == 3 and progress["percent_done"] == 100.0
    assert progress["recipients"] == 3 and progress["status"] == "completed"
    assert taken.json()["bounced"] == 1
    reported = json.loads(payload)
    assert reported["subject"] == bounced.id
    assert reported["data"] | {"bounced_at": None} == {
        "delivery_id": bounced.id,
        "activity_id": "tendens-6",
        "plan_id": "brmj-2015",
        "contact_id": bounced.contact_id,
        "channel": "newsletter",
        "bounced_at": None,
    }
    # each e-mail of a list carries its one-click unsubscribe link (RFC 8058)
    for message in smtp_sink.messages:
        assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:8003/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_a_send_that_keeps_failing_is_retried_then_reported_failed(database_url: str) -> None:
    closed_port = free_port()  # no SMTP server there
    settings = settings_for(
        NotificationsSettings,
        database_url,
        "127.0.0.1:1",
        smtp_port=closed_port,
        send_max_attempts=3,
        send_poll_interval_seconds=3600,
    )
    app = create_app(settings)
    runtime = runtime_of(app)
    runtime.workers.clear()  # this test is the sender
    async with serving(app) as client:
        await add_contacts(client, 1)
        await pending_delivery(runtime)

        channels = channels_for(settings)
        for attempt in range(1, 4):
            assert await send_due(runtime, channels) == 1
            [delivery] = await deliveries(app)
            assert delivery.attempts == attempt and "SMTPConnectError" in (
                delivery.last_error or ""
            )
            if attempt < 3:
                assert delivery.status == "pending"
                assert delivery.next_attempt_at > datetime.now(UTC)  # backed off
                assert await send_due(runtime, channels) == 0  # not due yet
                async with runtime.sessions.begin() as session:  # move the retry time to now
                    await session.execute(
                        update(Delivery).values(
                            next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)
                        )
                    )
        [delivery] = await deliveries(app)
        assert delivery.status == "failed"
        assert await outbox_types(app) == ["delivery.failed.v1", "send.completed.v1"]


async def test_a_display_name_cannot_add_recipients(broker, smtp_sink: SmtpSink, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        NotificationsSettings,
        f"sqlite+aiosqlite:///{tmp_path}/n.db",
        broker.bootstrap,
        smtp_port=smtp_sink.port,
    )
    app = create_app(settings)
    async with serving(app) as client:
        response = await client.post(
            "/v1/contacts",
            json={
                "email": "mette@jobcenter.example",
                "name": "Jensen, Mette <boss@evil.example>",
                "email_consent": True,
                "audience_ids": ["job-centres"],
            },
            headers=auth("communicator"),
        )
        assert response.status_code == 201, response.text
        await produce(broker.bootstrap, topics.ACTIVITIES, [(b"tendens-6", tendens_issue())])
        await eventually(
            lambda: deliveries(app), lambda ds: len(ds) == 1 and ds[0].status == "sent"
        )
    assert smtp_sink.recipients == [["mette@jobcenter.example"]]
    assert smtp_sink.messages[0]["To"].addresses[0].addr_spec == "mette@jobcenter.example"


async def test_a_delivery_is_recorded_only_by_the_sender_holding_its_lease(
    database_url: str,
) -> None:
    """A sender whose lease ran out (it stalled, or was killed) may not record the delivery;
    the sender that took it over counted a second attempt — the ledger's mark of a possible
    second copy — and records it once."""
    from services.notifications import sender

    settings = settings_for(
        NotificationsSettings, database_url, "127.0.0.1:1", send_poll_interval_seconds=3600
    )
    app = create_app(settings)
    runtime = runtime_of(app)
    runtime.workers.clear()  # this test is the sender
    async with serving(app) as client:
        await add_contacts(client, 1)
        await pending_delivery(runtime)
        [slow] = await sender._claim(runtime, "slow", channels_for(settings))
        assert (
            await sender._claim(runtime, "other", channels_for(settings)) == []
        )  # leased: nobody else takes it
        async with runtime.sessions.begin() as session:  # the slow sender's lease runs out
            await session.execute(
                update(Delivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        [fresh] = await sender._claim(runtime, "fresh", channels_for(settings))
        assert slow.id == fresh.id
        assert (slow.attempts, fresh.attempts) == (1, 2)
        await sender._record(runtime, "slow", [(slow, None)])  # too late: ignored
        await sender._record(runtime, "fresh", [(fresh, None)])
        [delivery] = await deliveries(app)
        assert delivery.status == "sent" and delivery.attempts == 2
        assert await outbox_types(app) == ["delivery.sent.v1", "send.completed.v1"]


async def test_a_refused_address_stays_in_this_database_and_out_of_events_logs_and_analysts_view(
    tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    """The server's refusal quotes the address. It is kept for communicators; the event, the
    log line and what an analyst reads carry only the category and the SMTP code."""
    sink = SmtpSink(refuse=frozenset({"leder0@jobcenter.example"})).start()
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    try:
        settings = settings_for(
            NotificationsSettings,
            f"sqlite+aiosqlite:///{tmp_path}/n.db",
            "127.0.0.1:1",
            smtp_port=sink.port,
            send_poll_interval_seconds=3600,
        )
        app = create_app(settings)
        runtime = runtime_of(app)
        runtime.workers.clear()  # this test is the sender
        async with serving(app) as client:
            await add_contacts(client, 1)
            await pending_delivery(runtime)
            server_log.setLevel(logging.WARNING)  # the test SMTP server's own lines name it
            capsys.readouterr()
            assert await send_due(runtime, channels_for(settings)) == 1
            logged = capsys.readouterr()
            [delivery] = await deliveries(app)
            assert delivery.status == "failed" and delivery.attempts == 1  # a 550 is final
            assert "leder0@jobcenter.example" in (delivery.last_error or "")
            async with runtime.sessions() as session:
                payload = await session.scalar(
                    select(runtime.outbox.c.payload).where(
                        runtime.outbox.c.type == "delivery.failed.v1"
                    )
                )
            reason = json.loads(payload)["data"]["reason"]
            assert reason == "recipient refused (SMTP 550)"
            assert (
                "@" not in logged.out + logged.err
                and "recipient refused" in logged.out + logged.err
            )
            as_analyst = await client.get("/v1/deliveries", headers=auth("analyst"))
            as_communicator = await client.get("/v1/deliveries", headers=auth("communicator"))
            role_less = await client.get("/v1/deliveries", headers=auth())
        [seen_by_analyst], [seen_by_communicator] = (
            as_analyst.json()["items"],
            as_communicator.json()["items"],
        )
        assert seen_by_analyst["last_error"] is None and seen_by_analyst["to"] is None
        assert "leder0@" in seen_by_communicator["last_error"]
        # who failed, to resend to them: a communicator sees whom
        assert seen_by_communicator["to"] == "Jobcenterleder 0 <leder0@jobcenter.example>"
        assert role_less.status_code == 403
    finally:
        sink.stop()
        server_log.setLevel(level)


def test_failure_reasons_name_a_category_and_a_code_never_the_servers_text() -> None:
    import aiosmtplib

    from services.notifications.transport import public_reason

    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "<a@b.dk> unknown", "a@b.dk")]
    )
    assert public_reason(refused) == "recipient refused (SMTP 550)"
    assert (
        public_reason(aiosmtplib.SMTPDataError(554, "a@b.dk spam")) == "message refused (SMTP 554)"
    )
    assert public_reason(aiosmtplib.SMTPConnectError("to a@b.dk")) == (
        "mail server unreachable (SMTPConnectError)"
    )
    assert public_reason(ValueError("a@b.dk has a linefeed")) == "not sent (ValueError)"


def test_permanent_smtp_errors_are_not_retried() -> None:
    import aiosmtplib

    from services.notifications.transport import is_permanent

    assert is_permanent(aiosmtplib.SMTPRecipientRefused(550, "mailbox unavailable", "x@example.dk"))
    assert is_permanent(aiosmtplib.SMTPDataError(554, "message refused"))
    assert is_permanent(ValueError("Header values may not contain linefeed or carriage return"))
    assert not is_permanent(aiosmtplib.SMTPDataError(451, "try again later"))
    assert not is_permanent(aiosmtplib.SMTPConnectError("connection refused"))
    # the server's or our configuration's fault: retried (and alerted on), never failed at once
    assert not is_permanent(
        aiosmtplib.SMTPSenderRefused(550, "sender refused", "budskab@localhost")
    )
    assert not is_permanent(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"))


def envelope(data) -> bytes:  # type: ignore[no-untyped-def]
    return (
        new_envelope(data, source="/tests", subject="tendens", correlation_id="c")
        .model_dump_json()
        .encode()
    )


async def test_a_recurring_newsletter_is_sent_per_issue_moved_and_cancelled_with_its_activity(
    database_url: str, broker, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    """Tendens, six issues a year (DOMAIN.md, case E): a send per issue. Of the issues already
    past only the latest goes out; the others wait for their day, are planned again when the
    series moves (here by one issue: each new time is an old one), and are not sent once it
    is cancelled."""
    settings = settings_for(
        NotificationsSettings, database_url, broker.bootstrap, smtp_port=smtp_sink.port
    )
    app = create_app(settings)
    now = datetime.now(UTC).replace(microsecond=0)
    issues = [now + timedelta(days=d) for d in (-120, -60, 60, 120)]
    moved_to = [issue + timedelta(days=60) for issue in issues]
    about = dict(activity_id="tendens", plan_id="brmj-2015", title="Tendens", kind="communication")
    async with serving(app) as client:
        await add_contacts(client, 1)
        await produce(
            broker.bootstrap,
            topics.ACTIVITIES,
            [
                (
                    b"tendens",
                    envelope(
                        ActivityApproved(
                            **about,
                            channel="newsletter",
                            starts_at=issues[0],
                            recurrence="FREQ=MONTHLY;INTERVAL=2;COUNT=4",
                            occurrences=issues,
                            audience=AudienceRef(id="job-centres", name="Jobcentre"),
                            message=MessageRef(id="m", subject="Tendens", body="Nyt fra regionen."),
                        )
                    ),
                )
            ],
        )
        first = await eventually(
            lambda: sends_of(app), lambda ss: len(ss) == 3 and "completed" in {s.status for s in ss}
        )
        first = [(s.scheduled_for, s.status) for s in first]
        await produce(
            broker.bootstrap,
            topics.ACTIVITIES,
            [
                (
                    b"tendens",
                    envelope(
                        ActivityRescheduled(
                            **about,
                            previous_starts_at=issues[0],
                            starts_at=moved_to[0],
                            occurrences=moved_to,
                            reason="Trykkeriet",
                        )
                    ),
                )
            ],
        )
        moved = await eventually(
            lambda: sends_of(app),
            lambda ss: max(s.scheduled_for for s in ss) == moved_to[-1],
        )
        moved = [s.scheduled_for for s in moved]
        await produce(
            broker.bootstrap,
            topics.ACTIVITIES,
            [(b"tendens", envelope(ActivityCancelled(**about, reason="Nyhedsbrevet lukkes")))],
        )
        cancelled = await eventually(
            lambda: sends_of(app), lambda ss: "scheduled" not in {s.status for s in ss}
        )
        listed = (await client.get("/v1/sends", headers=auth("analyst"))).json()
    assert first == [(issues[1], "completed"), (issues[2], "scheduled"), (issues[3], "scheduled")]
    # what went out stays; the issues still to come are at the new times only
    assert moved == [issues[1], moved_to[2], moved_to[3]]
    assert [(s.scheduled_for, s.status) for s in cancelled] == [
        (issues[1], "completed"),
        (moved_to[2], "cancelled"),
        (moved_to[3], "cancelled"),
    ]
    assert len(smtp_sink.messages) == 1
    assert [item["status"] for item in listed["items"]] == ["completed", "cancelled", "cancelled"]


async def test_a_send_waits_out_quiet_hours_and_keeps_the_mail_servers_pace(
    database_url: str, smtp_sink: SmtpSink
) -> None:
    """No newsletter at night (quiet hours 21:00–08:00, Danish time), while a person's own
    message about an event still goes; in the morning the send goes out at no more than the
    mail server's 10 messages a second."""
    settings = settings_for(
        NotificationsSettings,
        database_url,
        "127.0.0.1:1",
        smtp_port=smtp_sink.port,
        send_quiet_hours="21:00-08:00",
        smtp_rate_per_second=10,
    )
    app = create_app(settings)
    runtime = runtime_of(app)
    runtime.workers.clear()  # this test is the sender
    evening = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)  # 22:30 in Copenhagen
    runtime.clock = lambda: evening
    async with serving(app) as client:
        await add_contacts(client, 25)
        await pending_delivery(runtime)
        async with runtime.sessions.begin() as session:  # a registration's confirmation
            session.add(
                Delivery(
                    id="confirmation-1",
                    kind="confirmed",
                    event_id="e-1",
                    recipient_name="Mette Bach",
                    recipient_email="mette.bach@jobcenter-herning.dk",
                    dedupe_key="confirmed:reg-1",
                    channel="email",
                    subject="Du er tilmeldt",
                    body="Velkommen.",
                    status="pending",
                    attempts=0,
                    scheduled_for=evening,
                    next_attempt_at=evening,
                    created_at=evening,
                )
            )
        channels = channels_for(settings)
        assert await send_due(runtime, channels) == 1  # only the confirmation
        assert await send_due(runtime, channels) == 0  # the newsletter waits
        assert [m["To"] for m in smtp_sink.messages] == [
            "Mette Bach <mette.bach@jobcenter-herning.dk>"
        ]

        morning = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)  # 08:00 in Copenhagen
        started = time.monotonic()
        runtime.clock = lambda: morning + timedelta(seconds=time.monotonic() - started)
        assert await send_due(runtime, channels) == 25
        took = time.monotonic() - started
        await channels["email"].transport.close()
    assert len(smtp_sink.messages) == 26
    assert all(d.status == "sent" for d in await deliveries(app))
    # a burst of a second's worth (10), then 15 more at 10 a second: 1.5 s at the least
    assert took >= 1.4, took
    # each dated when it went, not when the batch was taken (at 5 a second, a batch of
    # 1,000 once carried Dates 200 s old)
    dates = [parsedate_to_datetime(m["Date"]) for m in smtp_sink.messages[1:]]
    assert min(dates) == morning and max(dates) >= morning + timedelta(seconds=1), dates
