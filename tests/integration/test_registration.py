"""Registration for events, over HTTP against the running events service, on SQLite and on
PostgreSQL: seats, the waitlist and its timed offers, personal links, check-in, the
calendar files — and never an overbooked event."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import vobject
from prometheus_client import REGISTRY
from sqlalchemy import select

from services.events import registrations, timers
from services.events.registrations import Asked
from services.events.schemas import RegistrationCreate
from services.events.tables import Registration, SessionSignup
from services.events.timers import pass_on_expired_offers
from shared.errors import Conflict
from tests.api import assert_invalid, assert_problem
from tests.helpers import auth, listening, runtime_of, serving
from tests.services import EVENTS_NOW as NOW
from tests.services import (
    INNOVATION_DAY,
    MANAGER,
    events_app,
    mailed_link,
    person,
    published_event,
    register,
)

pytestmark = pytest.mark.integration


async def outbox_types(app) -> list[str]:  # type: ignore[no-untyped-def]
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(runtime.outbox.c.type).order_by(runtime.outbox.c.position)
        )
        return [t for (t,) in rows]


async def test_seats_fill_the_waitlist_takes_over_and_a_freed_seat_is_offered_in_turn(
    database_url: str,
) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(client)

        anne, bo, carl, dorte = [
            await register(client, app, event_id, n)
            for n in ("Anne Holm", "Bo Lund", "Carl Berg", "Dorte Juul")
        ]
        assert [r["status"] for r in (anne, bo, carl, dorte)] == [
            "confirmed",
            "confirmed",
            "waitlisted",
            "waitlisted",
        ]
        seats = (await client.get(f"/v1/events/{event_id}", headers=MANAGER)).json()["seats"]
        assert seats == {"capacity": 2, "confirmed": 2, "held": 0, "waiting": 2, "free": 0}

        # Anne cancels: her seat is offered to Carl, first in line, held for 24 hours
        cancelled = await client.post(f"/v1/registrations/{anne['token']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        carl = (await client.get(f"/v1/registrations/{carl['token']}")).json()
        assert carl["status"] == "offered"
        assert carl["hold_expires_at"] == (NOW + timedelta(hours=24)).isoformat().replace(
            "+00:00", "Z"
        )
        # a newcomer does not jump the line while the seat is held
        assert (await register(client, app, event_id, "Erik Dahl"))["status"] == "waitlisted"
        erik = (
            await client.get(
                f"/v1/events/{event_id}/registrations",
                params={"status": "waitlisted"},
                headers=MANAGER,
            )
        ).json()["items"]
        assert [r["name"] for r in erik] == ["Dorte Juul", "Erik Dahl"]

        accepted = await client.post(f"/v1/registrations/{carl['token']}/accept")
        assert accepted.json()["status"] == "confirmed"
        again = await client.post(f"/v1/registrations/{carl['token']}/accept")
        assert again.json()["status"] == "confirmed"  # accepting twice is accepting once

        # Bo cancels: Dorte is offered the seat, but lets the offer run out
        await client.post(f"/v1/registrations/{bo['token']}/cancel")
        assert (await client.get(f"/v1/registrations/{dorte['token']}")).json()["status"] == (
            "offered"
        )
        later = NOW + timedelta(hours=25)
        runtime_of(app).clock = lambda: later
        # the seat is free in every count at once, before anything has tidied up
        assert (await client.get(f"/v1/registrations/{dorte['token']}")).json()["status"] == (
            "expired"
        )
        seats = (await client.get(f"/v1/events/{event_id}", headers=MANAGER)).json()["seats"]
        assert seats["free"] == 1 and seats["held"] == 0
        late = await client.post(f"/v1/registrations/{dorte['token']}/accept")
        assert "expired" in assert_problem(late, 409)["detail"]

        # the timer passes the seat on to the next in line
        assert await pass_on_expired_offers(runtime_of(app)) == 1
        # Erik registers again: no second place, and he is sent his link again
        again = await client.post(f"/v1/events/{event_id}/registrations", json=person("Erik Dahl"))
        assert again.status_code == 202, again.text
        offered = (
            await client.get(
                f"/v1/events/{event_id}/registrations",
                params={"status": "offered"},
                headers=MANAGER,
            )
        ).json()["items"]
        assert [r["name"] for r in offered] == ["Erik Dahl"]

    assert await outbox_types(app) == [
        "event.published.v1",
        "registration.confirmed.v1",
        "registration.confirmed.v1",
        "registration.waitlisted.v1",
        "registration.waitlisted.v1",
        "registration.cancelled.v1",
        "registration.offered.v1",
        "registration.waitlisted.v1",
        "registration.promoted.v1",
        "registration.cancelled.v1",
        "registration.offered.v1",
        "registration.offer_expired.v1",
        "registration.offered.v1",
        "registration.repeated.v1",
    ]


async def test_registering_an_address_again_answers_as_a_first_registration_does(
    database_url: str,
) -> None:
    """Who has registered for an event is nobody else's business: registering a known
    address gets the very answer a new one gets, on the API and the page, and changes
    nothing but sending the address's owner their link again."""
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(client)
        url = f"/v1/events/{event_id}/registrations"
        first = await client.post(url, json=person("Anne Holm"))
        page = (await client.get(f"/events/{event_id}")).text
        assert "Der er ledige pladser." in page  # whether, never how many
        again = await client.post(url, json=person("Anne Holm", email="Anne.Holm@Aarhus.dk"))
        assert (await client.get(f"/events/{event_id}")).text == page
        newcomer = await client.post(url, json=person("Bo Lund"))
        assert first.status_code == again.status_code == newcomer.status_code == 202
        assert first.json() == again.json() == newcomer.json()
        assert "e-mail" in first.json()["message"]

        form = {"name": "Anne Holm", "email": "anne.holm@aarhus.dk", "consent": "yes"}
        page_again = await client.post(f"/events/{event_id}", data=form)
        page_new = await client.post(
            f"/events/{event_id}", data={**form, "name": "Carl", "email": "carl@aarhus.dk"}
        )
        assert page_again.status_code == page_new.status_code == 303
        assert page_again.headers["location"] == page_new.headers["location"]
        told = await client.get(page_new.headers["location"])
        assert "Vi sender dig nu en e-mail" in told.text

        listed = (await client.get(url, headers=MANAGER)).json()
        assert [r["name"] for r in listed["items"]] == ["Anne Holm", "Bo Lund", "Carl"]
        confirmed_link = await mailed_link(app, "anne.holm@aarhus.dk")
    assert await outbox_types(app) == [
        "event.published.v1",
        "registration.confirmed.v1",
        "registration.repeated.v1",
        "registration.confirmed.v1",
        "registration.repeated.v1",
        "registration.waitlisted.v1",
    ]
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        payloads = await session.scalars(
            select(runtime.outbox.c.payload).where(
                runtime.outbox.c.type == "registration.repeated.v1"
            )
        )
        links = {json.loads(p)["data"]["attendee"]["link"] for p in payloads}
    assert links == {confirmed_link}  # the link of her one registration, both times


async def test_a_rush_of_registrations_at_the_last_seats_never_overbooks(
    database_url: str,
) -> None:
    """120 people at once, over real HTTP, for the last 10 seats: exactly 10 get one."""
    app = events_app(database_url)
    async with listening(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            event_id = await published_event(client, capacity=15)
            for i in range(5):
                await client.post(f"/v1/events/{event_id}/registrations", json=person(f"Early {i}"))
            responses = await asyncio.gather(
                *(
                    client.post(f"/v1/events/{event_id}/registrations", json=person(f"Rush {i}"))
                    for i in range(120)
                )
            )
            assert {r.status_code for r in responses} == {202}, {r.text for r in responses}
            seats = (await client.get(f"/v1/events/{event_id}", headers=MANAGER)).json()["seats"]
            assert seats == {"capacity": 15, "confirmed": 15, "held": 0, "waiting": 110, "free": 0}
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        positions = (await session.scalars(select(Registration.position))).all()
    assert sorted(positions) == list(range(1, 126))  # one line, no two in the same place


async def workshop_of_one(client: httpx.AsyncClient, event_id: str) -> str:
    """A session of the event with room for one; its id."""
    workshop = await client.post(
        f"/v1/events/{event_id}/sessions",
        json={
            "title": "Workshop: Velfærdens dilemmaer",
            "starts_at": "2016-01-20T10:00:00+00:00",
            "ends_at": "2016-01-20T11:30:00+00:00",
            "capacity": 1,
        },
        headers=MANAGER,
    )
    assert workshop.status_code == 201, workshop.text
    return str(workshop.json()["id"])


async def test_registrations_arriving_together_each_meet_their_own_fate(database_url: str) -> None:
    """Registrations that arrive at once are taken in groups, one transaction a group: in
    a group each is placed in turn, refused alone (a full or unknown session), or known (an
    address twice), and the events each causes carry its own request's correlation id."""
    app = events_app(database_url)
    async with listening(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            event_id = await published_event(client, capacity=5)
            workshop_id = await workshop_of_one(client, event_id)
            asked = [person(f"Rush {i}") for i in range(30)]
            asked += [person("Twin"), person("Twin")]
            asked += [person(f"Workshop {i}", session_ids=[workshop_id]) for i in (1, 2)]
            asked += [person("Lost", session_ids=["no-such-session"])]
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"/v1/events/{event_id}/registrations",
                        json=body,
                        headers={"X-Correlation-ID": f"rush-{i}"},
                    )
                    for i, body in enumerate(asked)
                )
            )
            codes = [answer.status_code for answer in answers]
            assert sorted(codes) == [202] * 33 + [409, 422], [a.text for a in answers]
            assert codes[-1] == 422 and sorted(codes[-3:-1]) == [202, 409]
            seats = (await client.get(f"/v1/events/{event_id}", headers=MANAGER)).json()["seats"]
            assert seats == {"capacity": 5, "confirmed": 5, "held": 0, "waiting": 27, "free": 0}
    runtime = runtime_of(app)
    async with runtime.sessions() as session:
        positions = (await session.scalars(select(Registration.position))).all()
        payloads = (await session.scalars(select(runtime.outbox.c.payload))).all()
    assert sorted(positions) == list(range(1, 33))
    correlation_of: dict[str, set[str]] = {}
    for payload in map(json.loads, payloads):
        if payload["type"].startswith("registration."):
            email = payload["data"]["attendee"]["email"]
            correlation_of.setdefault(email, set()).add(payload["correlationid"])
    for i, (body, code) in enumerate(zip(asked, codes, strict=True)):
        if code == 202 and body["email"] != "twin@aarhus.dk":
            assert correlation_of.pop(str(body["email"])) == {f"rush-{i}"}
    assert correlation_of == {"twin@aarhus.dk": {"rush-30", "rush-31"}}  # registered, repeated


async def test_a_group_is_one_transaction_in_which_each_registration_meets_its_own_fate(
    database_url: str,
) -> None:
    """A group as the registrar takes it, made here: each placed in turn, a twin of another
    address in the group known (in any case), a full or unknown session refused for that
    registration alone, nothing written for a refused one. An event that takes none refuses
    the whole group."""
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(client, capacity=2)
        workshop_id = await workshop_of_one(client, event_id)
        draft = (await client.post("/v1/events", json=INNOVATION_DAY, headers=MANAGER)).json()
        runtime, policy = runtime_of(app), app.state.events_access.policy
        group = [
            person("Anne Holm"),
            person("Anne Holm", email="ANNE.Holm@Aarhus.dk"),
            person("Workshop One", session_ids=[workshop_id]),
            person("Workshop Two", session_ids=[workshop_id]),
            person("Lost", session_ids=["no-such-session"]),
            person("Bo Lund"),
        ]
        asked = [
            Asked(RegistrationCreate.model_validate(body), f"group-{i}")
            for i, body in enumerate(group)
        ]
        outcomes = await registrations.register(runtime.uow(), event_id, asked, policy)
        assert [type(outcome).__name__ for outcome in outcomes] == [
            "NoneType", "NoneType", "NoneType", "Conflict", "RuleViolation", "NoneType"
        ]  # fmt: skip
        with pytest.raises(Conflict, match="draft"):
            await registrations.register(runtime.uow(), draft["id"], asked[:1], policy)
        seats = (await client.get(f"/v1/events/{event_id}", headers=MANAGER)).json()["seats"]
        assert seats == {"capacity": 2, "confirmed": 2, "held": 0, "waiting": 1, "free": 0}
    async with runtime.sessions() as session:
        placed = (
            await session.execute(
                select(Registration.email, Registration.status, Registration.position).order_by(
                    Registration.position
                )
            )
        ).all()
        signed_up = (await session.scalars(select(SessionSignup.registration_id))).all()
        payloads = (
            await session.scalars(
                select(runtime.outbox.c.payload).order_by(runtime.outbox.c.position)
            )
        ).all()
    assert [tuple(row) for row in placed] == [
        ("anne.holm@aarhus.dk", "confirmed", 1),
        ("workshop.one@aarhus.dk", "confirmed", 2),
        ("bo.lund@aarhus.dk", "waitlisted", 3),
    ]
    assert len(signed_up) == 1
    told = [
        (event["type"], event["data"]["attendee"]["email"], event["correlationid"])
        for event in map(json.loads, payloads)
        if event["type"].startswith("registration.")
    ]
    assert told == [
        ("registration.confirmed.v1", "anne.holm@aarhus.dk", "group-0"),
        ("registration.repeated.v1", "anne.holm@aarhus.dk", "group-1"),
        ("registration.confirmed.v1", "workshop.one@aarhus.dk", "group-2"),
        ("registration.waitlisted.v1", "bo.lund@aarhus.dk", "group-5"),
    ]


async def test_bad_input_gets_a_clear_answer_and_changes_nothing(database_url: str) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        draft = await client.post("/v1/events", json=INNOVATION_DAY, headers=MANAGER)
        draft_id = draft.json()["id"]
        assert (
            "draft"
            in assert_problem(
                await client.post(f"/v1/events/{draft_id}/registrations", json=person("Anne Holm")),
                409,
            )["detail"]
        )
        event_id = await published_event(client)
        url = f"/v1/events/{event_id}/registrations"
        assert_invalid(await client.post(url, json={**person("A"), "email": "not-mail"}), "email")
        assert_invalid(await client.post(url, json={**person("A"), "consent": False}), "consent")
        assert_invalid(await client.post(url, json={**person("A"), "name": "A\r\nBcc: x"}), "name")
        assert_problem(await client.post("/v1/events/nope/registrations", json=person("A")), 404)
        assert_problem(await client.get("/v1/registrations/forged-token"), 404)
        assert_invalid(
            await client.post(
                "/v1/events",
                json={**INNOVATION_DAY, "ends_at": "2016-01-20T07:00:00+00:00"},
                headers=MANAGER,
            ),
            "body",
        )
        for required in ("partners", "title", "capacity", "invitation_only"):  # not removable
            assert_invalid(
                await client.patch(
                    f"/v1/events/{event_id}", json={required: None}, headers=MANAGER
                ),
                "body",
            )
        # who may see and manage registrations
        assert_problem(await client.get(f"{url}", headers=auth("analyst")), 403)
        assert_problem(await client.post("/v1/events", json=INNOVATION_DAY), 401)
        listed = (await client.get(url, headers=MANAGER)).json()
        assert listed["total"] == 0
        # a started event takes no more registrations
        runtime_of(app).clock = lambda: datetime(2016, 1, 20, 9, tzinfo=UTC)
        assert (
            "started" in assert_problem(await client.post(url, json=person("Late")), 409)["detail"]
        )


async def test_registrations_are_rate_limited_per_client(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = events_app(
        f"sqlite+aiosqlite:///{tmp_path}/events.db", registration_rate_limit="3/minute"
    )
    async with serving(app) as client:
        event_id = await published_event(client)
        url = f"/v1/events/{event_id}/registrations"
        for i in range(3):
            assert (await client.post(url, json=person(f"P {i}"))).status_code == 202
        refused = await client.post(url, json=person("P 4"))
        assert_problem(refused, 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        listed = (await client.get(url, headers=MANAGER)).json()
        assert listed["total"] == 3


@pytest.mark.parametrize(
    ("trusted_proxies", "apart"),
    [("127.0.0.1", True), ("10.0.0.0/8, 192.168.1.1", False)],
    ids=["from a trusted proxy", "from an untrusted peer"],
)
async def test_the_rate_limit_counts_the_client_a_trusted_proxy_forwards_for(
    tmp_path, trusted_proxies: str, apart: bool
) -> None:  # type: ignore[no-untyped-def]
    """Behind a proxy every request comes from the proxy: only X-Forwarded-For tells people
    apart, and only a trusted proxy's is believed (else anyone could name a new client)."""
    app = events_app(
        f"sqlite+aiosqlite:///{tmp_path}/events.db",
        registration_rate_limit="2/minute",
        http_trusted_proxies=trusted_proxies,
    )
    async with listening(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        url = f"/v1/events/{await published_event(client)}/registrations"
        first = {"X-Forwarded-For": "198.51.100.7"}
        for i in range(2):
            response = await client.post(url, json=person(f"P {i}"), headers=first)
            assert response.status_code == 202, response.text
        assert_problem(await client.post(url, json=person("P 3"), headers=first), 429)
        second = {"X-Forwarded-For": "203.0.113.9"}
        other = await client.post(url, json=person("Other"), headers=second)
        assert other.status_code == (202 if apart else 429), other.text


async def test_check_in_counts_once_and_takes_scans_made_offline(database_url: str) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(client, capacity=2)
        anne = await register(client, app, event_id, "Anne Holm")
        bo = await register(client, app, event_id, "=Bo Lund", organisation="+Aarhus")
        waiting = await register(client, app, event_id, "Carl Berg")
        check_ins = f"/v1/events/{event_id}/check-ins"
        door = NOW + timedelta(days=16)
        runtime_of(app).clock = lambda: door

        first = await client.post(
            check_ins, json={"scans": [{"code": anne["code"]}]}, headers=MANAGER
        )
        assert first.json()[0]["result"] == "checked_in"
        twice = await client.post(
            check_ins, json={"scans": [{"code": anne["code"]}]}, headers=MANAGER
        )
        assert twice.json()[0]["result"] == "already_checked_in"
        assert twice.json()[0]["checked_in_at"] == first.json()[0]["checked_in_at"]

        # a retried request (same Idempotency-Key) is the same answer, not a new scan
        retry_headers = {**MANAGER, "Idempotency-Key": "scanner-7-batch-1"}
        offline = {
            "scans": [
                {"code": waiting["code"], "scanned_at": "2016-01-20T07:55:00+00:00"},
                {"code": "no-such-code"},
            ]
        }
        batch = await client.post(check_ins, json=offline, headers=retry_headers)
        retried = await client.post(check_ins, json=offline, headers=retry_headers)
        assert [r["result"] for r in batch.json()] == ["not_confirmed", "unknown"]
        assert retried.json() == batch.json()

        attendance = await client.get(f"/v1/events/{event_id}/attendance.csv", headers=MANAGER)
        assert attendance.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(attendance.text)))
        assert [(r["name"], r["attended"]) for r in rows] == [
            ("Anne Holm", "yes"),
            ("'=Bo Lund", "no"),  # a no-show; and no formula runs in a spreadsheet
        ]
        assert rows[1]["organisation"] == "'+Aarhus"
        assert bo["status"] == "confirmed"
    assert (await outbox_types(app)).count("attendee.checked_in.v1") == 1


async def test_the_calendar_files_read_back_with_another_parser(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db")
    async with serving(app) as client:
        event_id = await published_event(client)
        draft = await client.post(
            "/v1/events", json={**INNOVATION_DAY, "title": "Kladde"}, headers=MANAGER
        )
        one = await client.get(f"/events/{event_id}/calendar.ics")
        assert one.headers["content-type"].startswith("text/calendar")
        entry = vobject.readOne(one.text).vevent
        assert entry.summary.value == "Velfærdens innovationsdag"
        assert entry.dtstart.value == datetime(2016, 1, 20, 8, tzinfo=UTC)
        assert entry.dtend.value == datetime(2016, 1, 20, 15, tzinfo=UTC)
        assert entry.location.value == "Aarhus Rådhus, Rådhuspladsen 2, 8000 Aarhus C"
        public_url = runtime_of(app).settings.public_url.rstrip("/")
        assert entry.url.value == f"{public_url}/events/{event_id}"
        # the feed's links are the configured address's, whatever Host a client sends
        feed = vobject.readOne(
            (await client.get("/events.ics", headers={"Host": "evil.example"})).text
        )
        assert [e.summary.value for e in feed.vevent_list] == ["Velfærdens innovationsdag"]
        assert feed.vevent.url.value == f"{public_url}/events/{event_id}"
        assert (await client.get(f"/events/{draft.json()['id']}/calendar.ics")).status_code == 404


async def test_a_persons_data_is_exported_and_erased_and_the_counts_stay(database_url: str) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        first = await published_event(client)
        second = await published_event(client, title="Folkemødet: debat om velfærd")
        anne = await register(client, app, first, "Anne Holm")
        await client.post(
            f"/v1/events/{second}/registrations",
            json=person("Anne Holm", email="Anne.Holm@Aarhus.dk", organisation="Aarhus Kommune"),
        )
        await client.post(f"/v1/events/{first}/registrations", json=person("Bo Lund"))
        await client.post(
            f"/v1/events/{first}/check-ins",
            json={"scans": [{"code": anne["code"]}]},
            headers=MANAGER,
        )
        who = {"email": "anne.holm@aarhus.dk"}
        assert_problem(
            await client.post("/v1/attendees/export", json=who, headers=auth("analyst")), 403
        )
        exported = (await client.post("/v1/attendees/export", json=who, headers=MANAGER)).json()
        assert sorted((r["event_title"], r["name"]) for r in exported) == [
            ("Folkemødet: debat om velfærd", "Anne Holm"),
            ("Velfærdens innovationsdag", "Anne Holm"),
        ]
        assert all(r["consent_text"].startswith("Jeg giver samtykke") for r in exported)
        assert [r["checked_in_at"] is not None for r in exported if r["event_id"] == first] == [
            True
        ]

        erased = await client.post("/v1/attendees/erase", json=who, headers=MANAGER)
        assert erased.json() == {"registrations": 2}
        assert (await client.post("/v1/attendees/export", json=who, headers=MANAGER)).json() == []
        listed = (await client.get(f"/v1/events/{first}/registrations", headers=MANAGER)).json()[
            "items"
        ]
        assert [(r["name"], r["email"], r["status"]) for r in listed] == [
            ("", "", "confirmed"),
            ("Bo Lund", "bo.lund@aarhus.dk", "confirmed"),
        ]
        seats = (await client.get(f"/v1/events/{first}", headers=MANAGER)).json()["seats"]
        assert seats["confirmed"] == 2  # the counts stay
        attendance = (await client.get(f"/v1/events/{first}/attendance.csv", headers=MANAGER)).text
        assert "Anne" not in attendance and "anne" not in attendance
    assert (await outbox_types(app)).count("attendee.erased.v1") == 2


async def test_the_programme_takes_sign_ups_up_to_each_sessions_cap(database_url: str) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(client, capacity=50)

        async def session(**fields: object) -> dict:
            added = await client.post(
                f"/v1/events/{event_id}/sessions", json=fields, headers=MANAGER
            )
            assert added.status_code == 201, added.text
            return added.json()

        keynote = await session(
            title="Velfærd i forandring",
            kind="plenary",
            starts_at="2016-01-20T08:30:00+00:00",
            ends_at="2016-01-20T09:30:00+00:00",
            room="Store sal",
            people=[
                {"name": "Jacob Bundsgaard", "role": "speaker", "bio": "Borgmester, Aarhus"},
                {"name": "Mandag Morgen", "role": "moderator"},
            ],
        )
        workshop = await session(
            title="Workshop: Velfærdens dilemmaer",
            kind="workshop",
            starts_at="2016-01-20T10:00:00+00:00",
            ends_at="2016-01-20T11:30:00+00:00",
            room="Lokale 2",
            capacity=1,
        )
        clash = await session(
            title="Rundbordssamtale for direktører",
            kind="panel",
            starts_at="2016-01-20T11:00:00+00:00",
            ends_at="2016-01-20T12:00:00+00:00",
            capacity=20,
        )
        outside = await client.post(
            f"/v1/events/{event_id}/sessions",
            json={
                "title": "Efterfest",
                "starts_at": "2016-01-20T18:00:00+00:00",
                "ends_at": "2016-01-20T20:00:00+00:00",
            },
            headers=MANAGER,
        )
        assert_invalid(outside, "starts_at")  # after the event ends

        url = f"/v1/events/{event_id}/registrations"
        anne = await register(client, app, event_id, "Anne Holm", session_ids=[workshop["id"]])
        full = await client.post(url, json=person("Bo Lund", session_ids=[workshop["id"]]))
        assert "full" in assert_problem(full, 409)["detail"]
        # Anne, already registered, is refused the full session alike: no tell-tale 202
        again = await client.post(url, json=person("Anne Holm", session_ids=[workshop["id"]]))
        assert again.status_code == 409 and again.json() == full.json()
        assert (
            "Workshop: Velfærdens dilemmaer (fuldt)"
            in (await client.get(f"/events/{event_id}")).text
        )
        both = await client.post(
            url, json=person("Bo Lund", session_ids=[workshop["id"], clash["id"]])
        )
        assert_invalid(both, "session_ids")
        assert_invalid(
            await client.post(url, json=person("Bo Lund", session_ids=["nope"])), "session_ids"
        )
        assert (
            await client.post(url, json=person("Bo Lund", session_ids=[clash["id"]]))
        ).status_code == 202

        shown = (await client.get(f"/v1/events/{event_id}/programme", headers=MANAGER)).json()
        assert [(s["title"], s["signed_up"]) for s in shown] == [
            ("Velfærd i forandring", 0),
            ("Workshop: Velfærdens dilemmaer", 1),
            ("Rundbordssamtale for direktører", 1),
        ]
        assert shown[0]["people"][0] == {
            "name": "Jacob Bundsgaard",
            "role": "speaker",
            "bio": "Borgmester, Aarhus",
        }
        assert keynote["capacity"] is None

        # Anne cancels: her place in the workshop comes free
        await client.post(f"/v1/registrations/{anne['token']}/cancel")
        shown = (await client.get(f"/v1/events/{event_id}/programme", headers=MANAGER)).json()
        assert shown[1]["signed_up"] == 0
        page = (await client.get(f"/events/{event_id}")).text
        assert (
            "Jacob Bundsgaard" in page and "Workshop: Velfærdens dilemmaer (ledige pladser)" in page
        )
        listed = (await client.get(url, headers=MANAGER)).json()
        assert listed["total"] == 2  # the refused attempts left nothing behind


async def test_an_event_by_invitation_takes_answers_through_personal_links_only(
    database_url: str,
) -> None:
    app = events_app(database_url)
    async with serving(app) as client:
        event_id = await published_event(
            client, title="Rundbordssamtale for direktører", capacity=1, invitation_only=True
        )
        invited = await client.post(
            f"/v1/events/{event_id}/invitations",
            json={
                "people": [
                    {"name": "Anne Holm", "email": "anne.holm@aarhus.dk"},
                    {"name": "Bo Lund", "email": "bo.lund@randers.dk", "language": "en"},
                ]
            },
            headers=MANAGER,
        )
        assert invited.status_code == 201
        again = await client.post(
            f"/v1/events/{event_id}/invitations",
            json={"people": [{"name": "Anne Holm", "email": "Anne.Holm@aarhus.dk"}]},
            headers=MANAGER,
        )
        assert again.json() == []  # invited once
        refused = await client.post(f"/v1/events/{event_id}/registrations", json=person("Eve"))
        assert "invitation" in assert_problem(refused, 403)["detail"]

        # the links are in the invitations' e-mails; the service's signer makes the same
        signer = app.state.events_access.links
        anne_id, bo_id = (i["id"] for i in invited.json())
        anne, bo = signer.invitation_token(anne_id), signer.invitation_token(bo_id)

        assert_invalid(
            await client.post(f"/v1/invitations/{anne}/rsvp", json={"answer": "yes"}), "consent"
        )
        yes = await client.post(
            f"/v1/invitations/{anne}/rsvp", json={"answer": "yes", "consent": True}
        )
        assert yes.json()["answer"] == "yes" and yes.json()["registration_id"]
        bo_yes = await client.post(
            f"/v1/invitations/{bo}/rsvp", json={"answer": "yes", "consent": True}
        )
        assert bo_yes.status_code == 200
        rows = (await client.get(f"/v1/events/{event_id}/registrations", headers=MANAGER)).json()
        assert [(r["name"], r["status"]) for r in rows["items"]] == [
            ("Anne Holm", "confirmed"),
            ("Bo Lund", "waitlisted"),
        ]
        # Anne changes her mind: her seat is offered to Bo
        no = await client.post(f"/v1/invitations/{anne}/rsvp", json={"answer": "no"})
        assert no.json()["answer"] == "no"
        rows = (await client.get(f"/v1/events/{event_id}/registrations", headers=MANAGER)).json()
        assert [(r["name"], r["status"]) for r in rows["items"]] == [
            ("Anne Holm", "cancelled"),
            ("Bo Lund", "offered"),
        ]
        answers = (await client.get(f"/v1/events/{event_id}/invitations", headers=MANAGER)).json()
        assert sorted((i["name"], i["answer"]) for i in answers["items"]) == [
            ("Anne Holm", "no"),
            ("Bo Lund", "yes"),
        ]
        # a registration's link is no invitation, nor the reverse
        assert_problem(
            await client.post(
                f"/v1/invitations/{bo_yes.json()['registration_id']}/rsvp", json={"answer": "no"}
            ),
            404,
        )
        page = await client.get(f"/invitations/{anne}")
        assert page.status_code == 200 and "Kære Anne Holm" in page.text
        answered = await client.post(
            f"/invitations/{anne}", data={"answer": "yes", "consent": "yes"}
        )
        assert answered.status_code == 303  # to her own registration page
        assert "kun for inviterede" in (await client.get(f"/events/{event_id}")).text
        # Bo's data is erased: the seat offered to him passes on, his link answers no more
        await client.post(
            "/v1/attendees/erase", json={"email": "bo.lund@randers.dk"}, headers=MANAGER
        )
        rows = (await client.get(f"/v1/events/{event_id}/registrations", headers=MANAGER)).json()
        assert ("", "cancelled") in [(r["name"], r["status"]) for r in rows["items"]]
        assert_problem(
            await client.post(f"/v1/invitations/{bo}/rsvp", json={"answer": "maybe"}), 404
        )
    types = await outbox_types(app)
    assert types.count("attendee.invited.v1") == 2 and types.count("rsvp.recorded.v1") == 4
    assert types.count("invitation.erased.v1") == 1


async def test_a_cancelled_event_takes_no_offer_and_is_not_completed_before_it_starts(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db")
    async with serving(app) as client:
        event_id = await published_event(client, capacity=1)
        anne = await register(client, app, event_id, "Anne Holm")
        bo = await register(client, app, event_id, "Bo Lund")
        await client.post(f"/v1/registrations/{anne['token']}/cancel")  # Bo is offered the seat
        early = await client.post(f"/v1/events/{event_id}/complete", headers=MANAGER)
        assert "not before" in assert_problem(early, 409)["detail"]
        cancelled = await client.post(
            f"/v1/events/{event_id}/cancel", json={"reason": "Aflyst"}, headers=MANAGER
        )
        assert cancelled.json()["status"] == "cancelled"
        late = await client.post(f"/v1/registrations/{bo['token']}/accept")
        assert "cancelled" in assert_problem(late, 409)["detail"]


async def test_timers_whose_time_has_come_show_until_they_fire(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`budskab_timers_due` is what an alert on stuck timers reads: three events' reminders
    due at once, fired one per round, are counted down to none."""
    monkeypatch.setattr(timers, "BATCH", 1)
    # the service's own timer loop looks only after an hour: this test fires the rounds
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db", timer_interval_seconds=3600)
    async with serving(app) as client:
        for _ in range(3):
            await published_event(client)
        runtime = runtime_of(app)
        runtime.clock = lambda: datetime(2016, 1, 19, 9, tzinfo=UTC)  # 1-day reminders are due
        waiting = []
        while await timers.fire_due_messages(runtime):
            waiting.append(REGISTRY.get_sample_value("budskab_timers_due"))
    # each event has its 7-day and its 1-day reminder due (the survey's is the day after)
    assert waiting == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


async def test_a_reminder_to_many_goes_out_in_rounds_to_each_attendee_once(
    tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A big event's reminder is several transactions (a round's worth each, here 2), each
    committing where it stopped: everyone with a seat is reminded, once."""
    monkeypatch.setattr(timers, "MESSAGES_PER_ROUND", 2)
    app = events_app(f"sqlite+aiosqlite:///{tmp_path}/events.db", timer_interval_seconds=3600)
    async with serving(app) as client:
        event_id = await published_event(client, capacity=5)
        for name in ("Anne Holm", "Bo Lund", "Carl Berg", "Dorte Juul", "Eva Munk", "Finn Krogh"):
            await client.post(f"/v1/events/{event_id}/registrations", json=person(name))
        runtime = runtime_of(app)
        runtime.clock = lambda: datetime(2016, 1, 19, 9, tzinfo=UTC)  # the 1-day reminder
        reminded = []
        while await timers.fire_due_messages(runtime):
            reminded.append((await outbox_types(app)).count("reminder.due.v1"))
        async with runtime.sessions() as session:
            payloads = await session.scalars(
                select(runtime.outbox.c.payload).where(runtime.outbox.c.type == "reminder.due.v1")
            )
            people = sorted(json.loads(p)["data"]["attendee"]["name"] for p in payloads)
    # the 7-day reminder's moment has passed (not sent late); 5 seats, Finn waits
    assert reminded == [2, 4, 5]
    assert people == ["Anne Holm", "Bo Lund", "Carl Berg", "Dorte Juul", "Eva Munk"]
