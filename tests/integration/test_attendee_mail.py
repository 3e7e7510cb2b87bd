"""People registered for an event hear from it by e-mail: the events service publishes what
happened, the notifications service writes to the person over SMTP — over a real broker,
into a real SMTP server, each message once per person and kind."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
import vobject
from sqlalchemy import select

from scripts.stack import SmtpSink, Tansu
from services.events.app import create_app as events_app
from services.events.settings import EventsSettings
from services.events.timers import fire_due_messages
from services.notifications.app import create_app as notifications_app
from services.notifications.attendee_mail import handlers
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Base, Delivery, SurveyGate
from shared import topics
from shared.contracts import EventData, new_envelope
from shared.contracts.events import Attendee, AttendeeErased, EventSummary, SurveyRequested
from shared.contracts.metrics import SurveyClosed, SurveyOpened
from shared.db import create_engine, create_sessions
from shared.links import survey_link_parts
from shared.uow import UnitOfWork
from tests.helpers import (
    auth,
    eventually,
    produce,
    read_topic,
    runtime_of,
    serving,
    settings_for,
)
from tests.services import INNOVATION_DAY, MANAGER, person

pytestmark = pytest.mark.integration

NOW = datetime(2016, 1, 4, 9, tzinfo=UTC)


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()


def personal_token(message: EmailMessage) -> str:
    """The token of the personal link in an e-mail to a registrant (on the events service's
    public address)."""
    found = re.search(r"https://events\.aarhus\.example/registrations/([^?\s]+)", body(message))
    assert found, body(message)
    return found.group(1)


def mails_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [m for m in sink.messages if m["To"].addresses[0].addr_spec == address]


async def test_registrants_are_written_to_when_they_get_a_seat_wait_are_offered_one_and_the_event_moves(
    database_url: str, broker: Tansu, smtp_sink: SmtpSink, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    events = events_app(
        settings_for(
            EventsSettings,
            database_url,
            broker.bootstrap,
            public_url="https://events.aarhus.example",
            registration_rate_limit="1000/minute",
        )
    )
    notifications = notifications_app(
        settings_for(
            NotificationsSettings,
            f"sqlite+aiosqlite:///{tmp_path}/notifications.db",
            broker.bootstrap,
            smtp_port=smtp_sink.port,
            send_poll_interval_seconds=0.1,
        )
    )
    runtime_of(events).clock = lambda: NOW
    async with serving(events) as client, serving(notifications):
        event_id = (
            await client.post("/v1/events", json={**INNOVATION_DAY, "capacity": 1}, headers=MANAGER)
        ).json()["id"]
        await client.post(f"/v1/events/{event_id}/publish", headers=MANAGER)
        url = f"/v1/events/{event_id}/registrations"
        for registrant in (person("Anne Holm"), person("Bo Lund", language="en")):
            assert (await client.post(url, json=registrant)).status_code == 202

        await eventually(lambda: _count(smtp_sink), lambda n: n == 2)
        [confirmed] = mails_to(smtp_sink, "anne.holm@aarhus.dk")
        assert confirmed["Subject"] == "Du er tilmeldt: Velfærdens innovationsdag"
        assert "20.01.2016 kl. 09:00" in body(confirmed)  # Danish time
        anne = {"token": personal_token(confirmed)}
        bo = {"token": personal_token(mails_to(smtp_sink, "bo.lund@aarhus.dk")[0])}
        [ics] = [p for p in confirmed.iter_attachments() if p.get_content_type() == "text/calendar"]
        entry = vobject.readOne(ics.get_content()).vevent
        assert entry.summary.value == "Velfærdens innovationsdag"
        [waiting] = mails_to(smtp_sink, "bo.lund@aarhus.dk")
        assert waiting["Subject"] == "Waitlist: Velfærdens innovationsdag"

        # Anne registers again, twice one day and once the next: she is sent her link again,
        # once a day
        for day in (NOW, NOW, NOW + timedelta(days=1)):
            runtime_of(events).clock = lambda day=day: day
            assert (await client.post(url, json=person("Anne Holm"))).status_code == 202
        runtime_of(events).clock = lambda: NOW
        await eventually(lambda: _count(smtp_sink), lambda n: n == 4)
        await asyncio.sleep(1.0)  # the sender's turn, had it a third one to send
        first, *repeated = mails_to(smtp_sink, "anne.holm@aarhus.dk")
        assert [m["Subject"] for m in repeated] == ["Din tilmelding: Velfærdens innovationsdag"] * 2
        assert "allerede tilmeldt" in body(repeated[0])
        assert {personal_token(m) for m in repeated} == {anne["token"]}

        # Anne cancels: Bo is offered her seat by e-mail, and accepts through his link
        await client.post(f"/v1/registrations/{anne['token']}/cancel")
        await eventually(lambda: _count(smtp_sink), lambda n: n == 6)
        offer = mails_to(smtp_sink, "bo.lund@aarhus.dk")[-1]
        assert offer["Subject"] == "A seat is free for you: Velfærdens innovationsdag"
        assert "05 January 2016 at 10:00" in body(offer)  # held 24 hours, in Danish time
        assert bo["token"] in body(offer)
        await client.post(f"/v1/registrations/{bo['token']}/accept")
        await eventually(lambda: _count(smtp_sink), lambda n: n == 7)
        assert mails_to(smtp_sink, "bo.lund@aarhus.dk")[-1]["Subject"] == (
            "You are registered: Velfærdens innovationsdag"
        )

        # the event moves: everyone registered is told, with the new time
        moved = await client.patch(
            f"/v1/events/{event_id}",
            json={
                "starts_at": "2016-02-03T08:00:00+00:00",
                "ends_at": "2016-02-03T15:00:00+00:00",
                "reason": "Salen er optaget",
            },
            headers=MANAGER,
        )
        assert moved.status_code == 200, moved.text
        await eventually(lambda: _count(smtp_sink), lambda n: n == 8)
        told = mails_to(smtp_sink, "bo.lund@aarhus.dk")[-1]
        assert told["Subject"] == "New time: Velfærdens innovationsdag"
        assert "03 February 2016 at 09:00" in body(told) and "Salen er optaget" in body(told)

        # the day before, the 1-day reminder goes out once, however often the timer looks;
        # the 7-day one, whose moment has passed with the move, is not sent late
        runtime_of(events).clock = lambda: datetime(2016, 2, 2, 9, tzinfo=UTC)
        assert await fire_due_messages(runtime_of(events)) == 2
        assert await fire_due_messages(runtime_of(events)) == 0
        await eventually(lambda: _count(smtp_sink), lambda n: n == 9)
        assert mails_to(smtp_sink, "bo.lund@aarhus.dk")[-1]["Subject"] == (
            "Reminder: Velfærdens innovationsdag"
        )

        # a registration event sent again (with a new event id) makes no second e-mail
        records = await read_topic(broker.bootstrap, topics.REGISTRATIONS, at_least=1)
        confirmation = next(r for r in records if b"registration.confirmed.v1" in r.value)
        copy = json.loads(confirmation.value) | {"id": "a-copy-with-a-new-id"}
        await produce(
            broker.bootstrap, topics.REGISTRATIONS, [(confirmation.key, json.dumps(copy).encode())]
        )
        await eventually(lambda: _handled(notifications, "a-copy-with-a-new-id"), bool)
        await asyncio.sleep(1.0)  # the sender's turn, had it anything to send
        assert await _count(smtp_sink) == 9

        # Bo's data is erased in the events service: the notifications ledger forgets it too
        erased = await client.post(
            "/v1/attendees/erase", json={"email": "bo.lund@aarhus.dk"}, headers=MANAGER
        )
        assert erased.json() == {"registrations": 1}
        await eventually(
            lambda: _addresses(notifications), lambda a: a == {"anne.holm@aarhus.dk", None}
        )
    assert len({m["Message-ID"] for m in smtp_sink.messages}) == 9


async def _count(sink: SmtpSink) -> int:
    return len(sink.messages)


async def _addresses(app) -> set:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return set(await session.scalars(select(Delivery.recipient_email)))


async def _handled(app, event_id: str) -> bool:  # type: ignore[no-untyped-def]
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        inbox = runtime.inbox
        found = await session.scalar(select(inbox.c.event_id).where(inbox.c.event_id == event_id))
    return found is not None


async def test_an_audience_is_invited_as_its_lawful_basis_allows_each_contact_once(
    broker: Tansu, smtp_sink: SmtpSink, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    events = events_app(
        settings_for(
            EventsSettings,
            f"sqlite+aiosqlite:///{tmp_path}/events.db",
            broker.bootstrap,
            public_url="https://events.aarhus.example",
        )
    )
    notifications = notifications_app(
        settings_for(
            NotificationsSettings,
            f"sqlite+aiosqlite:///{tmp_path}/notifications.db",
            broker.bootstrap,
            smtp_port=smtp_sink.port,
            send_poll_interval_seconds=0.1,
        )
    )
    runtime_of(events).clock = lambda: NOW
    async with serving(events) as client, serving(notifications) as contacts:
        for i, (consent, language) in enumerate([(True, "da"), (True, "en"), (False, "da")]):
            made = await contacts.post(
                "/v1/contacts",
                json={
                    "email": f"leder{i}@jobcenter-aarhus.dk",
                    "name": f"Jobcenterleder {i}",
                    "language": language,
                    "email_consent": consent,
                    "audience_ids": ["jobcenterledere"],
                },
                headers=auth("communicator"),
            )
            assert made.status_code == 201, made.text
        event_id = (await client.post("/v1/events", json=INNOVATION_DAY, headers=MANAGER)).json()[
            "id"
        ]
        await client.post(f"/v1/events/{event_id}/publish", headers=MANAGER)
        for _ in range(2):  # invited twice: written to once
            invited = await client.post(
                f"/v1/events/{event_id}/invitations/audience",
                json={"audience_id": "jobcenterledere"},
                headers=MANAGER,
            )
            assert invited.status_code == 202, invited.text
        await eventually(lambda: _count(smtp_sink), lambda n: n == 2)
        await asyncio.sleep(1.5)  # a second round of e-mails would have gone by now
        assert sorted(m["To"].addresses[0].addr_spec for m in smtp_sink.messages) == [
            "leder0@jobcenter-aarhus.dk",
            "leder1@jobcenter-aarhus.dk",
        ]
        mail = smtp_sink.messages[0]
        assert mail["Subject"] == "Invitation: Velfærdens innovationsdag"
        assert f"https://events.aarhus.example/events/{event_id}" in body(mail)
        # each in their own language, with their one-click unsubscribe link (a list's mail)
        [danish] = mails_to(smtp_sink, "leder0@jobcenter-aarhus.dk")
        [english] = mails_to(smtp_sink, "leder1@jobcenter-aarhus.dk")
        assert "Vi vil gerne invitere dig" in body(danish)
        assert "We would like to invite you" in body(english)
        assert all(
            m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in (danish, english)
        )

        # the audience is told on the public task: its third member is invited too, once
        grounded = await contacts.put(
            "/v1/audiences/jobcenterledere",
            json={
                "lawful_basis": "public_task",
                "basis_note": "Lov om en aktiv beskæftigelsesindsats",
            },
            headers=auth("communicator"),
        )
        assert grounded.status_code == 200, grounded.text
        again = await client.post(
            f"/v1/events/{event_id}/invitations/audience",
            json={"audience_id": "jobcenterledere"},
            headers=MANAGER,
        )
        assert again.status_code == 202, again.text
        await eventually(lambda: _count(smtp_sink), lambda n: n == 3)
        await asyncio.sleep(1.5)
        assert [len(mails_to(smtp_sink, f"leder{i}@jobcenter-aarhus.dk")) for i in range(3)] == [
            1,
            1,
            1,
        ]


async def test_erasing_a_contact_erases_them_in_the_events_service_too_by_a_hash_only(
    broker: Tansu, smtp_sink: SmtpSink, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """One call in the notifications service erases a person everywhere: their contact and
    consent history there, their registration in the events service (told by
    contact.erased.v1, which carries the address's hash, never the address)."""
    events = events_app(
        settings_for(EventsSettings, f"sqlite+aiosqlite:///{tmp_path}/e.db", broker.bootstrap)
    )
    notifications = notifications_app(
        settings_for(
            NotificationsSettings,
            f"sqlite+aiosqlite:///{tmp_path}/n.db",
            broker.bootstrap,
            smtp_port=smtp_sink.port,
            send_poll_interval_seconds=0.1,
        )
    )
    runtime_of(events).clock = lambda: NOW
    communicator = auth("communicator")
    async with serving(events) as client, serving(notifications) as mail:
        event_id = (await client.post("/v1/events", json=INNOVATION_DAY, headers=MANAGER)).json()[
            "id"
        ]
        await client.post(f"/v1/events/{event_id}/publish", headers=MANAGER)
        anne = person("Anne Holm")
        registered = await client.post(f"/v1/events/{event_id}/registrations", json=anne)
        contact = await mail.post(
            "/v1/contacts",
            json={
                "email": anne["email"],
                "name": "Anne Holm",
                "email_consent": True,
                "audience_ids": ["innovation"],
            },
            headers=communicator,
        )
        contact_id = contact.json()["id"]
        await eventually(lambda: asyncio.sleep(0, len(mails_to(smtp_sink, anne["email"]))), bool)
        export = (await mail.get(f"/v1/contacts/{contact_id}/export", headers=communicator)).json()
        erased = await mail.delete(f"/v1/contacts/{contact_id}", headers=communicator)
        attendees = await eventually(
            lambda: client.get(f"/v1/events/{event_id}/registrations", headers=MANAGER),
            lambda r: all(i["email"] == "" for i in r.json()["items"]),
        )
        gone = await mail.get(f"/v1/contacts/{contact_id}", headers=communicator)
        async with runtime_of(notifications).sessions() as session:
            ledger = list(await session.scalars(select(Delivery)))
        [erasure] = [
            json.loads(record.value)
            for record in await read_topic(broker.bootstrap, topics.CONTACTS, at_least=1)
        ]
    assert registered.status_code == 202 and contact.status_code == 201
    assert export["contact"]["email"] == anne["email"]
    assert [c["granted"] for c in export["contact"]["consent_history"]] == [True]
    assert [m["kind"] for m in export["messages"]] == ["confirmed"]
    assert erased.status_code == 200 and gone.status_code == 404
    assert attendees.json()["items"][0]["name"] == ""
    assert [(d.kind, d.recipient_email, d.body) for d in ledger] == [("confirmed", None, "")]
    assert erasure["type"] == "contact.erased.v1"
    assert "@" not in json.dumps(erasure["data"])


async def test_those_who_came_get_one_personal_survey_link_by_e_mail_once_the_survey_opens(
    broker: Tansu, smtp_sink: SmtpSink, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """survey.requested.v1 (the day after the event, for each checked-in attendee) becomes
    one e-mail with the person's own link to the metrics service's survey page — held until
    the event has a survey that takes answers (survey.opened.v1), never sent after it closed."""
    settings = settings_for(
        NotificationsSettings,
        f"sqlite+aiosqlite:///{tmp_path}/notifications.db",
        broker.bootstrap,
        smtp_port=smtp_sink.port,
        send_poll_interval_seconds=0.1,
        survey_url="https://evaluering.bm.example/",
    )
    event_id = "br-midt-konference"

    async def tell(data: EventData, copy: str | None = None) -> None:
        raw = new_envelope(data, source="/test", subject=event_id, correlation_id="c")
        value = raw.model_dump(mode="json") | ({"id": copy} if copy else {})
        await produce(
            broker.bootstrap, data.topic, [(event_id.encode(), json.dumps(value).encode())]
        )

    app = notifications_app(settings)
    async with serving(app):
        for copy in ("first", "second"):  # sent twice, written once
            await tell(requested(event_id, "reg-1", "mette.bach@jobcenter-herning.dk"), copy)
        await eventually(lambda: _survey_mails(app), lambda m: m.get("reg-1", [None])[0] == "held")
        await asyncio.sleep(1.0)
        assert not smtp_sink.messages  # no survey yet: no link to nowhere
        await tell(opened(event_id, "evaluering-1"))
        await eventually(lambda: _count(smtp_sink), lambda n: n >= 1)
        await asyncio.sleep(1.0)  # a second e-mail would have gone by now
        [mail] = mails_to(smtp_sink, "mette.bach@jobcenter-herning.dk")

        # the next survey opens in a week: its e-mail waits for that; closed first, it never goes
        opens_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=7)
        await tell(closed(event_id, "evaluering-1"))
        await tell(opened(event_id, "evaluering-2", opens_at))
        await eventually(lambda: _open_survey(app, event_id), lambda s: s == "evaluering-2")
        await tell(requested(event_id, "reg-2", "jens.holm@jobcenter-herning.dk"))
        await eventually(
            lambda: _survey_mails(app), lambda m: m.get("reg-2") == ["pending", opens_at]
        )
        await tell(closed(event_id, "evaluering-2"))
        await eventually(lambda: _survey_mails(app), lambda m: m["reg-2"][0] == "cancelled")
    assert len(smtp_sink.messages) == 1
    assert mail["Subject"] == "Hvordan gik det? Fremtidens arbejdsmarked"
    [link] = re.findall(r"https://evaluering\.bm\.example/survey/(\S+)", body(mail))
    assert survey_link_parts(settings.link_key, link) == (event_id, "reg-1")
    assert "virker én gang" in body(mail)


def requested(event_id: str, registration_id: str, email: str) -> SurveyRequested:
    return SurveyRequested(
        event_id=event_id,
        plan_id=None,
        registration_id=registration_id,
        attendee=Attendee(
            name="Mette Bach",
            email=email,
            language="da",
            link="https://events.example/registrations/x",
        ),
        event=EventSummary(
            title="Fremtidens arbejdsmarked",
            starts_at=NOW,
            ends_at=None,
            venue="Scandic Aarhus City",
            address=None,
            link=f"https://events.example/events/{event_id}",
        ),
    )


def opened(event_id: str, survey_id: str, opens_at: datetime | None = None) -> SurveyOpened:
    return SurveyOpened(
        survey_id=survey_id,
        event_id=event_id,
        activity_id=None,
        plan_id=None,
        opens_at=opens_at,
        closes_at=None,
    )


def closed(event_id: str, survey_id: str) -> SurveyClosed:
    return SurveyClosed(survey_id=survey_id, event_id=event_id, activity_id=None, plan_id=None)


async def _open_survey(app, event_id: str) -> str | None:  # type: ignore[no-untyped-def]
    async with runtime_of(app).sessions() as session:
        return await session.scalar(
            select(SurveyGate.survey_id).where(SurveyGate.event_id == event_id)
        )


async def _survey_mails(app) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Each registration's survey e-mail: [status, when it is to go]."""
    async with runtime_of(app).sessions() as session:
        rows = await session.execute(
            select(Delivery.dedupe_key, Delivery.status, Delivery.scheduled_for).where(
                Delivery.kind == "survey"
            )
        )
        return {key.rsplit(":", 1)[1]: [status, at] for key, status, at in rows}


async def test_a_survey_request_waits_its_turn_beside_the_surveys_opening_and_closing(
    database_url: str,
) -> None:
    """Requests and openings come on different topics, so two replicas may handle them at
    the same moment: each locks the event's survey gate first, so the one that comes second
    sees what the first did — no e-mail held for good, none sent after its survey closed.
    Also: a person erased before their survey opens is not written to."""
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    sessions = create_sessions(engine)
    tables = Base.metadata.tables

    def uow() -> UnitOfWork:
        return UnitOfWork(sessions, outbox=tables["outbox"], inbox=tables["inbox"], source="/t")

    settings = settings_for(NotificationsSettings, database_url, "", survey_url="https://x.dk/")
    handle = handlers(settings)
    event_id = "br-midt-konference"

    async def apply(data: EventData, then: asyncio.Event | None = None) -> None:
        """`data` handled in a transaction of its own; held open until `then` is set."""
        async with uow() as work:
            envelope = new_envelope(data, source="/t", subject=event_id, correlation_id="c")
            await handle[type(data)](work, envelope, data)
            if then is not None:
                await then.wait()
            await work.commit()

    async def side_by_side(first: EventData, second: EventData) -> None:
        release = asyncio.Event()
        holding = asyncio.create_task(apply(first, release))
        await asyncio.sleep(0.3)  # the first holds the gate
        waiting = asyncio.create_task(apply(second))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second went ahead without waiting for the first"
        release.set()
        await asyncio.gather(holding, waiting)

    async def ledger() -> dict[str, tuple[str, datetime, datetime]]:
        async with sessions() as session:
            rows = await session.execute(
                select(
                    Delivery.dedupe_key,
                    Delivery.status,
                    Delivery.created_at,
                    Delivery.scheduled_for,
                )
            )
            return {key.rsplit(":", 1)[1]: (status, made, at) for key, status, made, at in rows}

    try:
        await side_by_side(requested(event_id, "reg-1", "a@x.dk"), opened(event_id, "s-1"))
        assert (await ledger())["reg-1"][0] == "pending"  # held, then released

        await side_by_side(requested(event_id, "reg-2", "b@x.dk"), closed(event_id, "s-1"))
        assert (await ledger())["reg-2"][0] == "cancelled"  # queued, then cancelled

        # queued now to go in a week: made now, not in the future
        later = datetime.now(UTC) + timedelta(days=7)
        await apply(opened(event_id, "s-2", later))
        before = datetime.now(UTC)
        await apply(requested(event_id, "reg-3", "c@x.dk"))
        status, made, at = (await ledger())["reg-3"]
        assert (status, at) == ("pending", later) and before <= made <= datetime.now(UTC)

        # erased while held: nobody to write to, so it is not released
        await apply(closed(event_id, "s-2"))
        await apply(requested(event_id, "reg-4", "d@x.dk"))
        await apply(AttendeeErased(event_id=event_id, plan_id=None, registration_id="reg-4"))
        await apply(opened(event_id, "s-3"))
        assert (await ledger())["reg-4"][0] == "cancelled"
    finally:
        await engine.dispose()
