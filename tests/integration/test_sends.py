"""Sends through the API against a real SMTP server: progress and counts, resend to the
failed only, throttling retried (never dropped), one-click unsubscribe and bounces that
suppress an address in every later send, and the preferences page in a real browser."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import func, select

from scripts.stack import SmtpSink
from services.notifications import sends
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Delivery, Send, Suppression
from tests.helpers import auth, eventually, listening, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

AUDIENCE = "tendens-readers"
COMMUNICATOR = auth("communicator")


def notifications(database_url: str, sink: SmtpSink, **extra: Any):  # type: ignore[no-untyped-def]
    settings = settings_for(
        NotificationsSettings,
        database_url,
        "127.0.0.1:1",  # no broker: sends need none, their events wait in the outbox
        smtp_port=sink.port,
        send_poll_interval_seconds=0.05,
        send_retry_base_seconds=0.05,
        **extra,
    )
    return create_app(settings)


async def add_readers(client: httpx.AsyncClient, *names: str) -> list[str]:
    """The readers as contacts of the audience; their ids."""
    ids = []
    for name in names:
        response = await client.post(
            "/v1/contacts",
            json={
                "email": f"{name}@jobcenter.example",
                "name": name.title(),
                "email_consent": True,
                "audience_ids": [AUDIENCE],
            },
            headers=COMMUNICATOR,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def send_tendens(client: httpx.AsyncClient, subject: str = "Tendens nr. 6") -> str:
    response = await client.post(
        "/v1/sends",
        json={"audience_id": AUDIENCE, "subject": subject, "body": "Ledigheden falder."},
        headers=COMMUNICATOR,
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v1/sends/{response.json()['id']}"
    return response.json()["id"]


async def completed(client: httpx.AsyncClient, send_id: str) -> dict[str, Any]:
    return await eventually(
        lambda: _get(client, f"/v1/sends/{send_id}"), lambda s: s["status"] == "completed"
    )


async def _get(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
    return (await client.get(path, headers=auth("analyst"))).json()


async def outbox(app) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(runtime.outbox.c.payload).order_by(runtime.outbox.c.position)
        )
        return [json.loads(row) for row in rows]


async def test_a_send_is_fanned_out_page_by_page_each_delivery_with_an_id_of_its_own(
    database_url: str,
) -> None:
    """The database writes each page of deliveries from the recipients (INSERT … SELECT);
    each delivery gets a time-ordered UUID of its own, in the order of its contacts."""
    sink = SmtpSink().start()
    try:
        app = notifications(database_url, sink, fanout_page_size=2)
        async with serving(app) as client:
            contacts = await add_readers(client, "anne", "bo", "carl", "dorte", "erik")
            send = await completed(client, await send_tendens(client))
            listed = await _get(client, f"/v1/deliveries?send_id={send['id']}")
    finally:
        sink.stop()
    assert send["recipients"] == 5 and send["counts"]["sent"] == 5
    ids = [delivery["id"] for delivery in listed["items"]]
    assert {(uuid.UUID(i).version, uuid.UUID(i).variant) for i in ids} == {(7, uuid.RFC_4122)}
    in_order = sorted(listed["items"], key=lambda delivery: delivery["id"])
    assert [delivery["contact_id"] for delivery in in_order] == sorted(contacts)
    assert len(sink.messages) == 5


async def test_a_send_shows_its_counts_completes_and_resends_to_the_failed_only(
    database_url: str,
) -> None:
    sink = SmtpSink(refuse=frozenset({"bo@jobcenter.example"})).start()
    try:
        app = notifications(database_url, sink)
        async with serving(app) as client:
            await add_readers(client, "anne", "bo", "carl")
            send_id = await send_tendens(client)
            first = await completed(client, send_id)
            failed = await _get(client, f"/v1/deliveries?send_id={send_id}&status=failed")
            events = [e for e in await outbox(app) if e["type"] == "send.completed.v1"]

            sink.refuse = frozenset()  # the mailbox exists again
            resend = await client.post(f"/v1/sends/{send_id}/resend-failed", headers=COMMUNICATOR)
            second = await completed(client, send_id)
            assert first["counts"] != second["counts"] == await ledger_counts(app, send_id)
            again = await client.post(f"/v1/sends/{send_id}/resend-failed", headers=COMMUNICATOR)
            by_analyst = await client.post(
                f"/v1/sends/{send_id}/resend-failed", headers=auth("analyst")
            )
            events = [e for e in await outbox(app) if e["type"] == "send.completed.v1"]
    finally:
        sink.stop()
    assert first["counts"] | {"pending": 0} == {
        "pending": 0,
        "sent": 2,
        "failed": 1,
        "suppressed": 0,
        "bounced": 0,
        "cancelled": 0,
    }
    assert (first["recipients"], first["percent_done"], first["sms_parts"]) == (3, 100.0, None)
    assert [d["contact_id"] is not None for d in failed["items"]] == [True]
    assert resend.json() == {"requeued": 1}
    assert second["counts"]["sent"] == 3 and second["counts"]["failed"] == 0
    assert again.json() == {"requeued": 0} and by_analyst.status_code == 403
    # each completion said so with its counts; the e-mails went once per contact
    assert [e["data"]["counts"]["sent"] for e in events] == [2, 3]
    assert sorted(r[0] for r in sink.recipients) == [
        "anne@jobcenter.example",
        "bo@jobcenter.example",
        "carl@jobcenter.example",
    ]


async def ledger_counts(app, send_id: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The send's deliveries counted in its ledger, by status (every status named)."""
    async with runtime_of(app).sessions() as session:
        rows = await session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id)
            .group_by(Delivery.status)
        )
        counted = dict(rows.all())
    return {s: counted.get(s, 0) for s in sends.COUNTED}


async def test_a_sends_counts_are_its_ledger_through_suppression_erasure_and_cancel(
    database_url: str, smtp_sink: SmtpSink
) -> None:
    """A send keeps its counts with its deliveries (counting a million-row ledger at each
    look took seconds): after each change they are what the ledger says."""
    night = datetime(2026, 12, 2, 21, 30, tzinfo=UTC)  # quiet hours: fanned out, not sent
    app = notifications(database_url, smtp_sink, send_quiet_hours="21:00-08:00")
    runtime_of(app).clock = lambda: night
    async with serving(app) as client:
        anne, *_ = await add_readers(client, "anne", "bo", "carl", "dorte")
        bounced = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "dorte@jobcenter.example"}
        assert (await client.post("/v1/bounces", json=bounced, headers=COMMUNICATOR)).is_success
        send_id = await send_tendens(client)
        fanned_out = await eventually(
            lambda: _get(client, f"/v1/sends/{send_id}"),
            lambda s: sum(s["counts"].values()) == 4,
        )
        fanned_out_ledger = await ledger_counts(app, send_id)
        # Anne asks, by her address (any case), what is kept about her, then to be erased
        who = {"email": "Anne@Jobcenter.example"}
        exported = await client.post("/v1/contacts/export", json=who, headers=COMMUNICATOR)
        assert exported.json()["contact"]["id"] == anne, exported.text
        erasure = await client.post("/v1/contacts/erase", json=who, headers=COMMUNICATOR)
        assert erasure.is_success, erasure.text
        gone = await client.post("/v1/contacts/export", json=who, headers=COMMUNICATOR)
        assert gone.status_code == 404, gone.text
        erased = await _get(client, f"/v1/sends/{send_id}")
        erased_ledger = await ledger_counts(app, send_id)
        cancel = await client.post(f"/v1/sends/{send_id}/cancel", headers=COMMUNICATOR)
        cancelled_ledger = await ledger_counts(app, send_id)
    assert fanned_out["counts"] == fanned_out_ledger
    assert (fanned_out_ledger["pending"], fanned_out_ledger["suppressed"]) == (3, 1)
    assert erased["counts"] == erased_ledger
    assert (erased_ledger["pending"], erased_ledger["cancelled"]) == (2, 1)
    assert cancel.json()["counts"] == cancelled_ledger
    assert (cancelled_ledger["pending"], cancelled_ledger["cancelled"]) == (0, 3)
    assert not smtp_sink.messages


async def test_a_throttled_recipient_is_retried_until_sent_never_dropped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink = SmtpSink(throttle=3).start()  # 451 three times for each address, then accepted
    try:
        app = notifications(f"sqlite+aiosqlite:///{tmp_path}/n.db", sink)
        async with serving(app) as client:
            await add_readers(client, "anne", "bo")
            send = await completed(client, await send_tendens(client))
            listed = await _get(client, f"/v1/deliveries?send_id={send['id']}")
    finally:
        sink.stop()
    assert send["counts"]["sent"] == 2
    assert [d["attempts"] for d in listed["items"]] == [4, 4]
    assert len(sink.messages) == 2


async def test_bad_sends_are_refused_with_a_problem_and_change_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    sink = SmtpSink()  # never started: nothing may be sent
    app = notifications(f"sqlite+aiosqlite:///{tmp_path}/n.db", sink)
    async with serving(app) as client:
        bad = [
            {"audience_id": AUDIENCE, "subject": "Two\nlines", "body": "x"},
            {"audience_id": AUDIENCE, "subject": "", "body": "x"},
            {"audience_id": AUDIENCE, "subject": "s", "body": "x", "channel": "web"},
            {"audience_id": AUDIENCE, "subject": "s", "body": "x", "scheduled_for": "2026-01-01"},
            {"audience_id": AUDIENCE, "subject": "s", "body": "x", "unknown": 1},
        ]
        answers = [await client.post("/v1/sends", json=b, headers=COMMUNICATOR) for b in bad]
        by_analyst = await client.post(
            "/v1/sends",
            json={"audience_id": "a", "subject": "s", "body": "b"},
            headers=auth("analyst"),
        )
        missing = await client.get("/v1/sends/nope", headers=COMMUNICATOR)
        listed = await _get(client, "/v1/sends")
    assert [a.status_code for a in answers] == [422] * len(bad)
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert by_analyst.status_code == 403 and missing.status_code == 404
    assert listed["total"] == 0


async def test_one_click_unsubscribe_suppresses_the_address_in_the_next_send(
    database_url: str, smtp_sink: SmtpSink
) -> None:
    app = notifications(database_url, smtp_sink)
    async with serving(app) as client:
        await add_readers(client, "anne", "bo")
        await completed(client, await send_tendens(client))
        [to_bo] = [m for m in smtp_sink.messages if m["To"].addresses[0].username == "bo"]
        link = to_bo["List-Unsubscribe"].strip("<>").removeprefix("http://127.0.0.1:8003")
        # what a mail client sends on one click (RFC 8058), with no cookie and no token
        clicked = await client.post(
            link,
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        clicked_twice = await client.post(link, data={"List-Unsubscribe": "One-Click"})
        forged = await client.post(link[:-3] + "abc", data={"List-Unsubscribe": "One-Click"})
        second = await completed(client, await send_tendens(client, "Tendens nr. 1"))
        suppressed = await _get(client, f"/v1/deliveries?send_id={second['id']}&status=suppressed")
    assert clicked.status_code == 200 and clicked_twice.status_code == 200
    assert forged.status_code == 404
    assert second["counts"]["sent"] == 1 and second["counts"]["suppressed"] == 1
    assert suppressed["total"] == 1
    assert [m["Subject"] for m in smtp_sink.messages].count("Tendens nr. 1") == 1


PROVIDER = ("budskab", "the-mail-providers-webhook-password-32b")  # HTTP Basic, in its URL


async def test_a_hard_bounce_or_complaint_suppresses_a_soft_bounce_does_not(
    database_url: str, smtp_sink: SmtpSink
) -> None:
    """Reported by the mail provider's webhook (its fixed password: a token expires) or by a
    communicator: a hard bounce or a complaint suppresses the address, a soft bounce not."""
    app = notifications(database_url, smtp_sink, bounce_webhook_secret=PROVIDER[1])
    async with serving(app) as client:
        await add_readers(client, "anne", "bo", "carl", "dorte")
        first = await completed(client, await send_tendens(client))
        to_anne = next(m for m in smtp_sink.messages if m["To"].addresses[0].username == "anne")
        reports = [
            {
                "RecordType": "Bounce",
                "Type": "HardBounce",
                "Email": "anne@jobcenter.example",
                "MessageID": to_anne["Message-ID"],
                "Description": "Unknown user",
                "ServerID": 1,
            },
            {"RecordType": "Bounce", "Type": "SoftBounce", "Email": "bo@jobcenter.example"},
            {
                "RecordType": "SpamComplaint",
                "Type": "SpamComplaint",
                "Email": "carl@jobcenter.example",
            },
        ]
        answers = [await client.post("/v1/bounces", json=r, auth=PROVIDER) for r in reports[:2]]
        answers.append(await client.post("/v1/bounces", json=reports[2], headers=COMMUNICATOR))
        # a report naming Bo's message but another address: that address is suppressed,
        # Bo's delivery is not taken for bounced (the report is not about it)
        to_bo = next(m for m in smtp_sink.messages if m["To"].addresses[0].username == "bo")
        stray = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "else@where.example"}
        stray["MessageID"] = to_bo["Message-ID"]
        strayed = await client.post("/v1/bounces", json=stray, auth=PROVIDER)
        dsn = await client.post(
            "/v1/bounces/dsn",
            content=delivery_status_notification("dorte@jobcenter.example", "5.1.1"),
            headers={"Content-Type": "message/rfc822"},
            auth=PROVIDER,
        )
        not_a_report = await client.post(
            "/v1/bounces/dsn",
            content=b"Subject: hello\r\n\r\nJust a letter.\r\n",
            headers={**COMMUNICATOR, "Content-Type": "message/rfc822"},
        )
        nested = await client.post(  # parts in parts, 300 deep: a problem, not a 500
            "/v1/bounces/dsn",
            content=b"Content-Type: message/rfc822\r\n\r\n" * 300,
            headers={**COMMUNICATOR, "Content-Type": "message/rfc822"},
        )
        bad = await client.post(
            "/v1/bounces", json={"RecordType": "Bounce", "Email": "nope"}, headers=COMMUNICATOR
        )
        anonymous = await client.post("/v1/bounces", json=reports[0])
        guessed = await client.post("/v1/bounces", json=reports[0], auth=("budskab", "guess"))
        by_analyst = await client.post("/v1/bounces", json=reports[0], headers=auth("analyst"))
        after = await _get(client, f"/v1/sends/{first['id']}")
        second = await completed(client, await send_tendens(client, "Tendens nr. 1"))
        async with runtime_of(app).sessions() as session:
            reasons = sorted(await session.scalars(select(Suppression.reason)))
    assert [a.json()["suppressed"] for a in answers] == [1, 0, 1]
    assert answers[0].json()["bounced"] == 1
    assert strayed.json() == {"reports": 1, "suppressed": 1, "bounced": 0}
    assert dsn.status_code == 200 and dsn.json() == {"reports": 1, "suppressed": 1, "bounced": 0}
    assert not_a_report.status_code == 422 and bad.status_code == 422
    assert nested.status_code == 422 and "deeply" in nested.json()["detail"]
    assert anonymous.status_code == 401 and guessed.status_code == 401
    assert guessed.headers["www-authenticate"] == "Basic" and by_analyst.status_code == 403
    assert after["counts"]["bounced"] == 1 and after["counts"]["sent"] == 3
    assert reasons == ["bounced", "bounced", "bounced", "complained"]
    assert (second["counts"]["sent"], second["counts"]["suppressed"]) == (1, 3)


def delivery_status_notification(recipient: str, status: str) -> bytes:
    """A bounce as Postfix returns it (RFC 3464 multipart/report)."""
    return (
        "From: MAILER-DAEMON@mail.example\r\n"
        "To: budskab@localhost\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mail.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: {status}\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "Message-ID: <not-ours@elsewhere>\r\nSubject: Tendens\r\n\r\n"
        "--B--\r\n"
    ).encode()


async def test_the_preferences_page_unsubscribes_and_subscribes_again_in_a_browser(
    tmp_path, smtp_sink: SmtpSink, browser: Browser
) -> None:  # type: ignore[no-untyped-def]
    app = notifications(f"sqlite+aiosqlite:///{tmp_path}/n.db", smtp_sink)
    async with listening(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            await add_readers(client, "anne")
            await completed(client, await send_tendens(client))
        link = smtp_sink.messages[0]["List-Unsubscribe"].strip("<>")
        link = link.replace("http://127.0.0.1:8003", url)
        context = await browser.new_context(java_script_enabled=False)
        page = await context.new_page()
        await page.goto(link)
        await expect(page.locator("html")).to_have_attribute("lang", "da")
        await page.get_by_role("button", name="Afmeld").press("Enter")  # by keyboard
        await expect(page.get_by_role("status")).to_have_text("Du er nu afmeldt.")
        await page.get_by_role("link", name="English").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await page.get_by_role("button", name="Subscribe again").click()
        await expect(page.get_by_role("status")).to_have_text("You are subscribed again.")
        await page.goto(link + "x")
        await expect(page.get_by_role("alert")).to_contain_text("Brug linket")
        await context.close()
        async with runtime_of(app).sessions() as session:
            assert list(await session.scalars(select(Suppression.reason))) == []
            assert len(list(await session.scalars(select(Send.id)))) == 1
            assert len(list(await session.scalars(select(Delivery.id)))) == 1


async def test_a_template_speaks_each_contacts_language_and_bad_ones_are_refused(
    tmp_path, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    app = notifications(f"sqlite+aiosqlite:///{tmp_path}/n.db", smtp_sink)
    async with serving(app) as client:
        await add_readers(client, "anne")
        english = await client.post(
            "/v1/contacts",
            json={
                "email": "erik@jobcenter.example",
                "name": "Erik <b>Berg</b>",
                "language": "en",
                "email_consent": True,
                "audience_ids": [AUDIENCE],
            },
            headers=COMMUNICATOR,
        )
        assert english.status_code == 201, english.text
        saved = {
            language: await client.put(
                f"/v1/templates/tendens/{language}",
                json={
                    "subject": f"{word}: {{{{ message.subject }}}}",
                    "text": f"{greeting} {{{{ contact.name }}}}\n\n{{{{ message.body }}}}\n",
                    "html": f"<p>{greeting} {{{{ contact.name }}}}</p><p>{{{{ message.body }}}}</p>"
                    '<p><a href="{{ unsubscribe_url }}">x</a></p>',
                },
                headers=COMMUNICATOR,
            )
            for language, word, greeting in (("da", "Nyt", "Kære"), ("en", "News", "Dear"))
        }
        response = await client.post(
            "/v1/sends",
            json={
                "audience_id": AUDIENCE,
                "subject": "Tendens",
                "body": "Ledigheden falder.",
                "template": "tendens",
            },
            headers=COMMUNICATOR,
        )
        await completed(client, response.json()["id"])
        standard = await completed(client, await send_tendens(client, "Standard"))
        unknown_variable = await client.put(
            "/v1/templates/x/da",
            json={"subject": "{{ message.subject }}", "text": "Hej {{ contact.age }} {{ navn }}"},
            headers=COMMUNICATOR,
        )
        stalling = await client.put(
            "/v1/templates/x/da",
            json={"subject": "s", "text": "{{ 9 ** 9 ** 9 ** 9 }} {{ 'x' * 1000000000 }}"},
            headers=COMMUNICATOR,
        )
        bad_syntax = await client.post(
            "/v1/templates/preview",
            json={"subject": "s", "text": "Hej\n{{ contact.name "},
            headers=COMMUNICATOR,
        )
        preview = await client.post(
            "/v1/templates/preview",
            json={"subject": "{{ message.subject }}", "text": "Kære {{ contact.name }}"},
            headers=auth("analyst"),
        )
        no_such_template = await client.post(
            "/v1/sends",
            json={"audience_id": AUDIENCE, "subject": "s", "body": "b", "template": "nope"},
            headers=COMMUNICATOR,
        )
        listed = (await client.get("/v1/templates", headers=COMMUNICATOR)).json()
    assert [r.status_code for r in saved.values()] == [200, 200]
    assert standard["counts"]["sent"] == 2
    by = {(m["Subject"], m["To"].addresses[0].username): m for m in smtp_sink.messages}
    danish, english_mail = by[("Nyt: Tendens", "anne")], by[("News: Tendens", "erik")]
    assert danish.get_body(("plain",)).get_content() == "Kære Anne\n\nLedigheden falder."
    assert english_mail.get_body(("plain",)).get_content().startswith("Dear Erik <b>Berg</b>")
    html = english_mail.get_body(("html",)).get_content()
    assert "Erik &lt;b&gt;Berg&lt;/b&gt;" in html and "/unsubscribe/" in html  # escaped
    # the built-in template, in each one's language, with the unsubscribe link in the text
    assert by[("Standard", "anne")].get_body(("plain",)).get_content().startswith("Kære Anne")
    erik_standard = by[("Standard", "erik")].get_body(("plain",)).get_content()
    assert erik_standard.startswith("Dear Erik") and "/unsubscribe/" in erik_standard
    assert unknown_variable.status_code == 422 and "navn" in unknown_variable.json()["detail"]
    assert bad_syntax.status_code == 422 and "line 2" in bad_syntax.json()["detail"]
    assert stalling.status_code == 422 and "not allowed" in stalling.json()["detail"]
    assert preview.json()["text"] == "Kære Mette Jensen"
    assert no_such_template.status_code == 422
    assert [(t["name"], t["language"], t["built_in"]) for t in listed] == [
        ("standard", "da", True),
        ("standard", "en", True),
        ("tendens", "da", False),
        ("tendens", "en", False),
    ]


async def test_subscribing_again_does_not_lift_a_bounce_nor_say_it_did(
    tmp_path, smtp_sink: SmtpSink
) -> None:  # type: ignore[no-untyped-def]
    app = notifications(f"sqlite+aiosqlite:///{tmp_path}/n.db", smtp_sink)
    async with serving(app) as client:
        await add_readers(client, "anne")
        await completed(client, await send_tendens(client))
        link = smtp_sink.messages[0]["List-Unsubscribe"].strip("<>")
        link = link.removeprefix("http://127.0.0.1:8003")
        bounce = {"RecordType": "Bounce", "Type": "HardBounce", "Email": "anne@jobcenter.example"}
        await client.post("/v1/bounces", json=bounce, headers=COMMUNICATOR)
        page = await client.post(link, data={"action": "resubscribe"})
        async with runtime_of(app).sessions() as session:
            reasons = list(await session.scalars(select(Suppression.reason)))
    assert page.status_code == 200
    assert "tilmeldt igen" not in page.text  # "Du er tilmeldt igen": it did not happen
    assert "kom retur" in page.text  # why nothing is sent to the address
    assert reasons == ["bounced"]
