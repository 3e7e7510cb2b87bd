"""Lists and segments: contacts' attributes (from the API and from a CSV's other columns), a
segment chosen by them, and an audience sent on the authority's public task rather than on
consent — each proved by whom a send's fan-out writes deliveries for."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from services.notifications.app import create_app
from services.notifications.contacts import import_chunk
from services.notifications.fanout import fan_out_page
from services.notifications.settings import NotificationsSettings
from services.notifications.suppressions import suppress
from services.notifications.tables import Contact, Delivery
from tests.helpers import auth, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

COMMUNICATOR = auth("communicator")

# the regional labour-market council's readers (DOMAIN.md, case E), with what they are — and
# a column nobody asked to keep
LEADERS = (
    "navn;e-mail;samtykke;Kommune;Rolle;Område;CPR-nummer\n"
    "Mette Søndergaard;mette@jobcenter-aarhus.dk;ja;Aarhus;jobcenterchef;Østjylland;010101-1234\n"
    "Jens Ærø;jens@jobcenter-silkeborg.dk;ja;Silkeborg;jobcenterchef;Østjylland;\n"
    "Anna Lind;anna@jobcenter-aarhus.dk;ja;Aarhus;konsulent;Østjylland;\n"
    "Per Lund;per@jobcenter-aarhus.dk;nej;Aarhus;leder;Østjylland;\n"
    "Kim Bak;kim@jobcenter-herning.dk;ja;;leder;Vestjylland;\n"
).encode()
KEPT = ("Kommune", "Rolle", "Område")


def app_for(database_url: str):  # type: ignore[no-untyped-def]
    app = create_app(settings_for(NotificationsSettings, database_url, "127.0.0.1:1"))
    runtime_of(app).workers.clear()  # the tests import and fan out themselves
    return app


async def imported(app, client, content: bytes, *audiences: str, keep=KEPT) -> None:  # type: ignore[no-untyped-def]
    """Import a file, its job driven here (the test's service runs no workers), keeping the
    columns `keep` as attributes."""
    started = await client.post(
        "/v1/contact-imports",
        params=[("audience_id", a) for a in audiences] + [("attribute", k) for k in keep],
        content=content,
        headers={**COMMUNICATOR, "Content-Type": "text/csv"},
    )
    assert started.status_code == 202, started.text
    while await import_chunk(runtime_of(app)):
        pass


async def recipients_of(app, send_id: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Each delivery's address and status, once the send is fanned out."""
    runtime = runtime_of(app)
    while await fan_out_page(runtime):
        pass
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Contact.email, Delivery.status)
            .join(Contact, Contact.id == Delivery.contact_id)
            .where(Delivery.send_id == send_id)
        )
        return dict(rows.all())


async def send_to(client, **target) -> dict:  # type: ignore[no-untyped-def,type-arg]
    answer = await client.post(
        "/v1/sends",
        json={"subject": "Tendens: ledigheden falder", "body": "Nyt fra regionen.", **target},
        headers=COMMUNICATOR,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_segment_chooses_contacts_by_their_attributes(database_url: str) -> None:
    app = app_for(database_url)
    async with serving(app) as client:
        await imported(app, client, LEADERS, "jobcentre")
        created = await client.post(
            "/v1/segments",
            json={
                "name": "Ledere i Aarhus",
                "audience_id": "jobcentre",
                "rules": [
                    {"attribute": "kommune", "operator": "is", "value": "Aarhus"},
                    {
                        "attribute": "rolle",
                        "operator": "one_of",
                        "values": ["jobcenterchef", "leder"],
                    },
                ],
            },
            headers=COMMUNICATOR,
        )
        assert created.status_code == 201, created.text
        segment = created.json()
        no_kommune = await client.post(
            "/v1/segments",
            json={
                "name": "Uden kommune",
                "audience_id": "jobcentre",
                "rules": [{"attribute": "kommune", "operator": "absent"}],
            },
            headers=COMMUNICATOR,
        )
        east = await client.post(  # a name made of a Danish header: the same on every database
            "/v1/segments",
            json={
                "name": "Østjylland",
                "audience_id": "jobcentre",
                "rules": [{"attribute": "omraade", "operator": "is", "value": "Østjylland"}],
            },
            headers=COMMUNICATOR,
        )
        async with runtime_of(app).sessions() as session:
            first = await session.scalar(
                select(Contact.attributes).where(Contact.email == "mette@jobcenter-aarhus.dk")
            )
        send = await send_to(client, segment_id=segment["id"])
        blocked = await client.delete(f"/v1/segments/{segment['id']}", headers=COMMUNICATOR)
        reached = await recipients_of(app, send["id"])
        public = (await client.get(f"/v1/sends/{send['id']}", headers=COMMUNICATOR)).json()
        deleted = await client.delete(f"/v1/segments/{segment['id']}", headers=COMMUNICATOR)
        # a later file without Rolle and with Kommune emptied for Mette: kommune goes, rolle stays
        await imported(
            app,
            client,
            b"navn;e-mail;samtykke;Kommune\nMette;mette@jobcenter-aarhus.dk;ja;\n",
            keep=("Kommune",),
        )
        missing_column = await client.post(
            "/v1/contact-imports",
            params={"attribute": "Afdeling"},
            content=LEADERS,
            headers={**COMMUNICATOR, "Content-Type": "text/csv"},
        )
        async with runtime_of(app).sessions() as session:
            attributes = await session.scalar(
                select(Contact.attributes).where(Contact.email == "mette@jobcenter-aarhus.dk")
            )
    # Per leads in Aarhus too, but gave no consent; Anna is no leader; Jens is in Silkeborg
    assert segment["contacts"] == 2
    assert no_kommune.json()["contacts"] == 1  # Kim's cell was empty
    assert east.json()["contacts"] == 4
    # what was asked to be kept, and nothing else (no CPR number)
    assert first == {"kommune": "Aarhus", "rolle": "jobcenterchef", "omraade": "Østjylland"}
    assert missing_column.status_code == 422 and "no column afdeling" in missing_column.text
    assert reached == {"mette@jobcenter-aarhus.dk": "pending"}
    assert public["segment_id"] == segment["id"] and public["audience_id"] is None
    assert public["lawful_basis"] == "consent"
    assert blocked.status_code == 409 and send["id"] in blocked.text
    assert deleted.status_code == 204  # its send has its recipients: the segment may go
    assert attributes == {"rolle": "jobcenterchef", "omraade": "Østjylland"}


async def test_an_audience_on_the_public_task_reaches_everyone_but_the_unsubscribed(
    database_url: str,
) -> None:
    app = app_for(database_url)
    async with serving(app) as client:
        await imported(app, client, LEADERS, "jobcentre")
        before = (await client.get("/v1/audiences/jobcentre", headers=COMMUNICATOR)).json()
        ungrounded = await client.put(
            "/v1/audiences/jobcentre", json={"lawful_basis": "public_task"}, headers=COMMUNICATOR
        )
        grounded = await client.put(
            "/v1/audiences/jobcentre",
            json={
                "lawful_basis": "public_task",
                "basis_note": "Lov om en aktiv beskæftigelsesindsats: regionens arbejdsmarkedsråd",
            },
            headers=COMMUNICATOR,
        )
        by_analyst = await client.put(
            "/v1/audiences/jobcentre", json={"lawful_basis": "consent"}, headers=auth("analyst")
        )
        async with runtime_of(app).sessions() as session:  # Kim unsubscribed (a suppression)
            kim = await session.scalar(
                select(Contact).where(Contact.email == "kim@jobcenter-herning.dk")
            )
        async with runtime_of(app).uow() as uow:
            await suppress(uow, kim.email_hash, "unsubscribed")
            await uow.commit()
        after = (await client.get("/v1/audiences/jobcentre", headers=COMMUNICATOR)).json()
        send = await send_to(client, audience_id="jobcentre")
        reached = await recipients_of(app, send["id"])
        public = (await client.get(f"/v1/sends/{send['id']}", headers=COMMUNICATOR)).json()
    assert (before["lawful_basis"], before["members"], before["reachable"]["email"]) == (
        "consent",
        5,
        4,
    )
    assert ungrounded.status_code == 422 and "legal ground" in ungrounded.text
    assert grounded.status_code == 200, grounded.text
    assert grounded.json()["reachable"] == {"email": 5, "sms": 0}
    assert before["basis_history"] == []
    [setting] = after["basis_history"]  # the refused ones left no trace
    assert (setting["lawful_basis"], setting["basis_note"][:32]) == (
        "public_task",
        "Lov om en aktiv beskæftigelsesin",
    )
    assert setting["set_by"].startswith("api: ") and setting["recorded_at"] == after["updated_at"]
    assert after["reachable"]["email"] == 4  # less the unsubscribed
    assert by_analyst.status_code == 403
    assert reached == {
        "mette@jobcenter-aarhus.dk": "pending",
        "jens@jobcenter-silkeborg.dk": "pending",
        "anna@jobcenter-aarhus.dk": "pending",
        "per@jobcenter-aarhus.dk": "pending",  # no consent: not asked on the public task
        "kim@jobcenter-herning.dk": "suppressed",  # an objection still holds
    }
    assert public["lawful_basis"] == "public_task"


async def test_lists_and_segments_refuse_bad_input_and_change_nothing(database_url: str) -> None:
    app = app_for(database_url)
    async with serving(app) as client:
        bad_segments = [
            {"rules": []},
            {"rules": [{"attribute": "kommune", "operator": "is"}]},
            {"rules": [{"attribute": "kommune", "operator": "present", "value": "a"}]},
            {"rules": [{"attribute": "Kommune!", "operator": "present"}]},
            {"rules": [{"attribute": "kommune", "operator": "like", "value": "a"}]},
            {"rules": [{"attribute": "område", "operator": "present"}]},  # its plain name: omraade
        ]
        segment_answers = [
            await client.post(
                "/v1/segments", json={"name": "x", "audience_id": "a", **b}, headers=COMMUNICATOR
            )
            for b in bad_segments
        ]
        everyone = await client.post(  # every contact we hold: consent is given per list
            "/v1/segments",
            json={"name": "x", "rules": [{"attribute": "kommune", "operator": "present"}]},
            headers=COMMUNICATOR,
        )
        unknown_audience = await client.get("/v1/audiences/nobody", headers=COMMUNICATOR)
        sends = [
            {"subject": "s", "body": "b"},
            {"subject": "s", "body": "b", "audience_id": "a", "segment_id": "s"},
            {"subject": "s", "body": "b", "segment_id": "nope"},
            {"subject": "s", "body": "b", "segment_id": "s", "channel": "webhook"},
        ]
        send_answers = [await client.post("/v1/sends", json=b, headers=COMMUNICATOR) for b in sends]
        bad_basis = await client.put(
            "/v1/audiences/a", json={"lawful_basis": "legitimate_interest"}, headers=COMMUNICATOR
        )
        too_many = await client.post(
            "/v1/contacts",
            json={
                "email": "a@b.dk",
                "name": "A",
                "email_consent": True,
                "attributes": {f"a{i}": "x" for i in range(31)},
            },
            headers=COMMUNICATOR,
        )
        listed = await client.get("/v1/segments", headers=COMMUNICATOR)
        sent = await client.get("/v1/sends", headers=COMMUNICATOR)
        missing = await client.get("/v1/segments/nope", headers=COMMUNICATOR)
    assert [a.status_code for a in segment_answers] == [422] * 6
    assert everyone.status_code == 422 and "audience_id" in everyone.text
    assert unknown_audience.status_code == 404
    assert "takes a `value`" in segment_answers[1].text
    assert [a.status_code for a in send_answers] == [422] * 4
    assert "one of them" in send_answers[0].text
    assert "no segment 'nope'" in send_answers[2].text
    assert bad_basis.status_code == 422
    assert too_many.status_code == 422
    assert listed.json() == [] and sent.json()["items"] == []
    assert missing.status_code == 404
