"""Contacts from a CSV file, as a communication team exports it from a spreadsheet: the good
rows imported, each bad row reported with its line and reason, progress shown, a second
import updating who is there (and recording each change of consent)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import Contact
from tests.helpers import auth, eventually, runtime_of, serving, settings_for

pytestmark = pytest.mark.integration

COMMUNICATOR = auth("communicator")

# Tendens' readers at the job centres of Midtjylland (DOMAIN.md, case E), exported from Excel
# in Danish: semicolons, Windows-1252, a blank line, and a few rows nobody checked
TENDENS = (
    "Navn;E-mail;Telefon;Sprog;Samtykke\r\n"
    "Mette Søndergaard;mette@jobcenter-aarhus.dk;+45 89 40 20 00;da;ja\r\n"
    "Jens Ærø;jens.aero@jobcenter-silkeborg.dk;87 22 00 00;;ja\r\n"
    "Anna Lind;anna.lind@jobcenter-herning.dk;;en;yes\r\n"
    "\r\n"
    "Ole Bak;ole.bak(at)jobcenter-viborg.dk;;da;ja\r\n"
    ";kim@jobcenter-skive.dk;;da;ja\r\n"
    "Lise Holm;lise@jobcenter-randers.dk;ring efter kl. 10;da;ja\r\n"
    "Karen Dam;karen@jobcenter-horsens.dk;;de;måske\r\n"
    "Per Lund;per@jobcenter-holstebro.dk;;da;nej\r\n"
    "Bo Ry;bo@jobcenter-ikast.dk;;da;ja;ekstra\r\n"
).encode("cp1252")


def app_for(database_url: str, **extra):  # type: ignore[no-untyped-def]
    settings = settings_for(
        NotificationsSettings, database_url, "127.0.0.1:1", send_poll_interval_seconds=0.05, **extra
    )
    return create_app(settings)


async def import_file(client, content: bytes, *audiences: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    started = await client.post(
        "/v1/contact-imports",
        params=[("audience_id", a) for a in audiences],
        content=content,
        headers={**COMMUNICATOR, "Content-Type": "text/csv"},
    )
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "queued"
    return await eventually(
        lambda: client.get(started.headers["location"], headers=COMMUNICATOR),
        lambda r: r.json()["status"] == "completed",
    )


async def test_an_import_takes_the_good_rows_and_reports_each_bad_one(database_url: str) -> None:
    app = app_for(database_url)
    async with serving(app) as client:
        done = (await import_file(client, TENDENS, "tendens-readers")).json()
        errors = await client.get(done["errors_url"], headers=COMMUNICATOR)
        async with runtime_of(app).sessions() as session:
            people = {
                c.email: (c.name, c.phone, c.language, c.email_consent)
                for c in await session.scalars(select(Contact))
            }
        # the same file again, with Per now saying yes: updated, his consent's change recorded
        again = TENDENS.replace(
            b"Per Lund;per@jobcenter-holstebro.dk;;da;nej",
            b"Per Lund;per@jobcenter-holstebro.dk;;da;ja",
        )
        await import_file(client, again, "tendens-readers")
        async with runtime_of(app).sessions() as session:
            per = await session.scalar(
                select(Contact).where(Contact.email == "per@jobcenter-holstebro.dk")
            )
            count = await session.scalar(select(func.count()).select_from(Contact))
        per_public = (await client.get(f"/v1/contacts/{per.id}", headers=COMMUNICATOR)).json()
        # a file without phone and language columns leaves those as they were
        await import_file(
            client, b"navn,e-mail,samtykke\nAnna Lind,anna.lind@jobcenter-herning.dk,ja\n"
        )
        async with runtime_of(app).sessions() as session:
            anna = await session.scalar(
                select(Contact).where(Contact.email == "anna.lind@jobcenter-herning.dk")
            )
    assert (done["total_rows"], done["imported"], done["rejected"]) == (9, 4, 5)
    assert done["percent_done"] == 100.0 and done["audience_ids"] == ["tendens-readers"]
    assert people == {
        "mette@jobcenter-aarhus.dk": ("Mette Søndergaard", "+4589402000", "da", True),
        "jens.aero@jobcenter-silkeborg.dk": ("Jens Ærø", "+4587220000", "da", True),
        "anna.lind@jobcenter-herning.dk": ("Anna Lind", None, "en", True),
        "per@jobcenter-holstebro.dk": ("Per Lund", None, "da", False),
    }
    assert errors.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(errors.text)))
    assert rows[0] == ["line", "reason"]
    reported = {int(line): reason for line, reason in rows[1:]}
    # lines as the spreadsheet shows them: the header is 1, the blank line 5 counts too
    assert sorted(reported) == [6, 7, 8, 9, 11], reported
    assert reported[6].startswith("email:")
    assert reported[7].startswith("name:")
    assert reported[8].startswith("phone:")
    assert reported[9] == (
        "language: Input should be 'da' or 'en'; consent: must be ja or nej (yes or no)"
    )
    assert reported[11] == "6 fields, the header has 5"
    assert count == 4
    assert (anna.language, anna.phone) == ("en", None)
    assert [(c["granted"], c["source"].split()[0]) for c in per_public["consent_history"]] == [
        (False, "import"),
        (True, "import"),
    ]


async def test_a_file_that_is_not_a_contact_list_is_refused_at_once_and_stores_nothing(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    app = app_for(f"sqlite+aiosqlite:///{tmp_path}/n.db", max_file_bytes=2_000)
    async with serving(app) as client:
        post = lambda content, kind="text/csv": client.post(  # noqa: E731
            "/v1/contact-imports", content=content, headers={**COMMUNICATOR, "Content-Type": kind}
        )
        no_consent = await post(b"name,email\nMette,mette@aarhus.dk\n")
        no_header = await post(b"per@aarhus.dk,Per Hansen,ja,+4512345678\n")
        empty = await post(b"")
        json_body = await post(b'{"email": "x"}', "application/json")
        too_big = await post(b"name,email,consent\n" + b"a,b@c.dk,ja\n" * 500)
        as_analyst = await client.post(
            "/v1/contact-imports",
            content=TENDENS,
            headers={**auth("analyst"), "Content-Type": "text/csv"},
        )
        missing = await client.get("/v1/contact-imports/nope", headers=COMMUNICATOR)
        async with runtime_of(app).sessions() as session:
            contacts = await session.scalar(select(func.count()).select_from(Contact))
    assert no_consent.status_code == 422
    assert "missing: consent" in no_consent.json()["detail"]
    assert "found: name, email" in no_consent.json()["detail"]
    # the first line is someone's data: the refusal does not repeat it (it is logged, shown)
    assert no_header.status_code == 422
    assert "does not look like a header" in no_header.json()["detail"]
    assert "per@aarhus.dk" not in no_header.text and "Hansen" not in no_header.text
    assert empty.status_code == 422 and json_body.status_code == 415
    assert too_big.status_code == 413 and as_analyst.status_code == 403
    assert missing.status_code == 404 and contacts == 0


async def test_a_file_saved_with_mac_line_ends_imports_and_an_unreadable_one_is_a_422(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """Excel's "CSV (Macintosh)" ends lines with CR alone; a field over csv's limit (128 KiB)
    is no contact. Both once answered 500."""
    app = app_for(f"sqlite+aiosqlite:///{tmp_path}/n.db")
    async with serving(app) as client:
        done = await import_file(
            client, b"email,navn,samtykke\rmette@aarhus.dk,Mette,ja\rjens@aarhus.dk,Jens,ja\r"
        )
        huge = await client.post(
            "/v1/contact-imports",
            content=b'email,navn,samtykke\nmette@aarhus.dk,"' + b"x" * 140_000 + b'",ja\n',
            headers={**COMMUNICATOR, "Content-Type": "text/csv"},
        )
    assert (done.json()["imported"], done.json()["rejected"]) == (2, 0)
    assert huge.status_code == 422
    assert huge.json()["detail"].startswith("line 2: the file cannot be read as CSV")


async def test_a_utf8_file_with_a_line_from_elsewhere_keeps_its_letters_and_refuses_that_line(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """One line pasted in from a Windows-1252 file (ø as the byte F8) into a UTF-8 file: the
    other lines keep their æ, ø and å (the whole file was once read as Windows-1252, every
    name garbled), and that line is refused, saying why."""
    app = app_for(f"sqlite+aiosqlite:///{tmp_path}/n.db")
    content = (
        "navn;e-mail;samtykke\n"
        "Mette Søndergaard;mette@jobcenter-aarhus.dk;ja\n"
        "Jens Ærø;jens.aero@jobcenter-silkeborg.dk;ja\n"
    ).encode() + "Bjørn Kjær;bjorn@jobcenter-skive.dk;ja\n".encode("cp1252")
    async with serving(app) as client:
        done = (await import_file(client, content)).json()
        errors = await client.get(done["errors_url"], headers=COMMUNICATOR)
        async with runtime_of(app).sessions() as session:
            names = sorted(await session.scalars(select(Contact.name)))
    assert names == ["Jens Ærø", "Mette Søndergaard"]
    [(line, reason)] = list(csv.reader(io.StringIO(errors.text)))[1:]
    assert line == "4" and reason.startswith("the line holds characters that cannot be read")


async def test_an_address_on_two_lines_imports_the_later_and_reports_the_earlier(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """Mette twice (her name corrected further down, in another case): one contact, the
    later line's, and the earlier line reported — not both counted as imported. Jens twice,
    the later line refused (its consent is neither yes nor no): the earlier one is imported."""
    app = app_for(f"sqlite+aiosqlite:///{tmp_path}/n.db")
    content = (
        b"navn;e-mail;samtykke\n"
        b"Mette Sondergaard;mette@jobcenter-aarhus.dk;ja\n"
        b"Jens Aero;jens.aero@jobcenter-silkeborg.dk;ja\n"
        b"Mette S\xc3\xb8ndergaard;Mette@Jobcenter-Aarhus.dk;ja\n"
        b"Jens Aer\xc3\xb8;jens.aero@jobcenter-silkeborg.dk;m\xc3\xa5ske\n"
    )
    async with serving(app) as client:
        done = (await import_file(client, content)).json()
        errors = await client.get(done["errors_url"], headers=COMMUNICATOR)
        async with runtime_of(app).sessions() as session:
            names = sorted(await session.scalars(select(Contact.name)))
    assert (done["imported"], done["rejected"]) == (2, 2)
    assert names == ["Jens Aero", "Mette Søndergaard"]
    assert list(csv.reader(io.StringIO(errors.text)))[1:] == [
        ["2", "email: the same address as line 4, imported instead"],
        ["5", "consent: must be ja or nej (yes or no)"],
    ]


async def test_sms_consent_comes_from_its_own_column_and_needs_a_phone(database_url: str) -> None:
    """Silkeborg's citizens' panel: who may be texted. A yes without a phone is refused with
    its line; a later file without the column leaves SMS consent as it was; a no withdraws it,
    recorded in the consent history."""
    panel = (
        b"navn;e-mail;telefon;samtykke;sms samtykke\n"
        b"Karen Holm;karen@silkeborg.example;21 00 00 01;ja;ja\n"
        b"Jonas Riis;jonas@silkeborg.example;;ja;ja\n"
        b"Birthe Lund;birthe@silkeborg.example;21 00 00 04;ja;nej\n"
    )
    app = app_for(database_url)
    async with serving(app) as client:
        done = (await import_file(client, panel, "borgerpanel")).json()
        errors = await client.get(done["errors_url"], headers=COMMUNICATOR)
        await import_file(client, b"navn;e-mail;samtykke\nKaren Holm;karen@silkeborg.example;ja\n")
        async with runtime_of(app).sessions() as session:
            kept = await session.scalar(
                select(Contact.sms_consent).where(Contact.email == "karen@silkeborg.example")
            )
        await import_file(
            client, b"navn;e-mail;samtykke;sms_consent\nKaren Holm;karen@silkeborg.example;ja;nej\n"
        )
        async with runtime_of(app).sessions() as session:
            karen = await session.scalar(
                select(Contact).where(Contact.email == "karen@silkeborg.example")
            )
        public = (await client.get(f"/v1/contacts/{karen.id}", headers=COMMUNICATOR)).json()
    assert (done["imported"], done["rejected"]) == (2, 1)
    assert list(csv.reader(io.StringIO(errors.text)))[1:] == [
        ["3", "SMS consent needs a phone number to text"]
    ]
    assert kept is True
    assert public["sms_consent"] is False and public["email_consent"] is True
    assert [(c["channel"], c["granted"]) for c in public["consent_history"]] == [
        ("email", True),
        ("sms", True),
        ("sms", False),
    ]
