"""Contacts: whom we may write to, in which language, with their consent and its history
and their attributes (what segments select by) — one at a time through the API, or many
from a CSV file imported by a background job, which keeps as attributes the columns it is
asked to (and no other).

An import takes the good rows and reports every bad one with its line and reason. It runs in
chunks, each in one transaction with the import's cursor (`next_line`), so a restart goes
on where it stopped, and the import shows its progress as it goes. A contact that exists
already (the same address) is updated, and joins the import's audiences.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import defer

from services.notifications import sends
from services.notifications.domain import DeliveryStatus, address_hash
from services.notifications.segments import AttributeName, AttributeValue, attribute_name
from services.notifications.settings import NotificationsSettings
from services.notifications.tables import (
    AudienceMember,
    ConsentRecord,
    Contact,
    ContactImport,
    ContactImportError,
    Delivery,
    SmsStop,
)
from shared.contracts.notifications import ContactErased
from shared.db import changed_rows, upsert
from shared.errors import Conflict, NotFound, RuleViolation
from shared.ids import new_id
from shared.runtime import Runtime
from shared.schemas import ApiInput, MailAddress, SingleLine
from shared.uow import UnitOfWork

CHUNK = 250  # rows per transaction
MAX_ATTRIBUTES = 30


def _phone(value: str | None) -> str | None:
    """A phone number as E.164: '+45 12 34 56 78', '12345678' (Danish) → '+4512345678'."""
    if value is None or not value.strip():
        return None
    digits = re.sub(r"[\s\-().]", "", value)
    if re.fullmatch(r"\d{8}", digits):
        digits = "+45" + digits
    elif digits.startswith("00"):
        digits = "+" + digits[2:]
    if not re.fullmatch(r"\+[1-9]\d{6,14}", digits):
        raise ValueError("must be a phone number: 8 Danish digits, or + and the country code")
    return digits


def _yes_or_no(value: object) -> object:
    """How people write yes and no in a spreadsheet, in Danish or English."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in {"ja", "yes", "true", "1", "x", "j", "y"}:
            return True
        if word in {"nej", "no", "false", "0", "", "n"}:
            return False
        raise ValueError("must be ja or nej (yes or no)")
    return value


PhoneNumber = Annotated[str | None, AfterValidator(_phone)]


class ContactDetails(ApiInput):
    """One contact, from the API or a row of an import."""

    email: MailAddress
    name: SingleLine = Field(min_length=1, max_length=200)
    phone: PhoneNumber = Field(None, max_length=30)
    language: Literal["da", "en"] = "da"
    email_consent: StrictBool = Field(description="The contact agreed to receive e-mail.")
    sms_consent: StrictBool = Field(
        False, description="The contact agreed to receive text messages (on `phone`)."
    )
    attributes: dict[AttributeName, AttributeValue] = Field(
        default_factory=dict,
        max_length=MAX_ATTRIBUTES,
        description='What segments select by, e.g. {"kommune": "Aarhus"}.',
    )

    @model_validator(mode="after")
    def _a_phone_to_text(self, info: ValidationInfo) -> ContactDetails:
        # a file without phones may give consent for the phone on record (see import_chunk)
        phone_elsewhere = (info.context or {}).get("phone_on_record", False)
        if self.sms_consent and self.phone is None and not phone_elsewhere:
            raise ValueError("SMS consent needs a phone number to text")
        return self


Details = TypeVar("Details", bound=ContactDetails)  # one from the API, or a file's row


class CsvRow(ContactDetails):
    email_consent: Annotated[StrictBool, BeforeValidator(_yes_or_no)]
    sms_consent: Annotated[StrictBool, BeforeValidator(_yes_or_no)] = False
    language: Annotated[Literal["da", "en"], BeforeValidator(lambda v: v or "da")] = "da"


# what each column may be called in the file's header (any case), Danish or English
COLUMNS = {
    "email": {"email", "e-mail", "mail", "e-mailadresse", "email address"},
    "name": {"name", "navn", "full name", "fulde navn"},
    "phone": {"phone", "telefon", "mobil", "mobile", "tlf"},
    "language": {"language", "sprog"},
    "email_consent": {"consent", "email_consent", "samtykke", "e-mail samtykke"},
    "sms_consent": {"sms_consent", "sms consent", "sms samtykke", "sms-samtykke", "sms_samtykke"},
}
REQUIRED = ("email", "name", "email_consent")
ATTRIBUTE = "attribute:"  # a column the import was asked to keep as an attribute


@dataclass(frozen=True)
class CsvFile:
    text: str
    rows: int


def read_csv(raw: bytes, attributes: frozenset[str] = frozenset()) -> CsvFile:
    """The file's text, checked to be a CSV with the columns we need (and the `attributes`
    asked to be kept); a clear refusal if not. UTF-8 (with or without Excel's BOM) or
    Windows-1252; comma, semicolon or tab separated; lines ending in CRLF, LF or CR alone
    (Excel's "CSV (Macintosh)")."""
    text = _decoded(raw)
    if "\x00" in text:
        raise RuleViolation("this is not a CSV file (it holds NUL bytes)")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    records = _records(text)
    header = next(records, None)
    if header is None:
        raise RuleViolation("the file is empty")
    columns = _columns(header[1], attributes)
    missing = [c for c in REQUIRED if c not in columns.values()]
    absent = sorted(attributes - {c.removeprefix(ATTRIBUTE) for c in columns.values()})
    if not missing and absent:
        raise RuleViolation(
            f"the file has no column {', '.join(absent)} to keep as an attribute"
            f" (found: {_as_found(header[1])})"
        )
    if missing:
        raise RuleViolation(
            "the header needs the columns email, name and consent "
            f"(also: phone, language, sms_consent); "
            f"missing: {', '.join('consent' if m == 'email_consent' else m for m in missing)}; "
            f"found: {_as_found(header[1])}"
        )
    return CsvFile(text, sum(1 for _ in records))


UNREADABLE = "\ufffd"  # what a byte that is no character of the file's encoding becomes
_UTF_8_LETTER = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")  # æ, ø, å... as UTF-8 writes them


def _decoded(raw: bytes) -> str:
    """UTF-8, or Windows-1252 (Excel's "CSV" on Windows). A UTF-8 file with a few bytes that
    are not (a line pasted in from elsewhere) stays UTF-8, those bytes unreadable — their
    lines are refused — rather than every æ, ø and å in it read wrong as Windows-1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    text = raw.decode("utf-8-sig", errors="replace")
    if len(_UTF_8_LETTER.findall(raw)) > text.count(UNREADABLE):
        return text
    return raw.decode("cp1252", errors="replace")


def _as_found(header: list[str]) -> str:
    """The header's cells for the refusal, except those that look like a person's data (a
    file without a header starts with someone's address and name, and an error is logged
    and shown where personal data should not be)."""
    cells = [c.strip() for c in header if c.strip()]
    names = [c for c in cells if len(c) <= 40 and not any(ch in c for ch in "@0123456789")]
    if len(names) < len(cells) and not _columns(cells):
        return f"{len(cells)} fields, the first line does not look like a header"
    return ", ".join(names) or "nothing"


def _records(text: str):  # type: ignore[no-untyped-def]
    """(line, fields) of each non-blank record; the line as a spreadsheet shows it."""
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)  # the header's separator is the file's
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    start = 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                yield start, fields
            start = reader.line_num + 1
    except csv.Error as exc:  # e.g. a field over csv's limit of 131,072 characters
        raise RuleViolation(f"line {start}: the file cannot be read as CSV ({exc})") from None


def _columns(header: list[str], attributes: frozenset[str] = frozenset()) -> dict[int, str]:
    """Each known column's field, or `attribute:<name>` for a column the import keeps as an
    attribute (its header made plain: "Område" → omraade); any other column is left out —
    a spreadsheet's other columns may hold what we have no business keeping."""
    names = {alias: field for field, aliases in COLUMNS.items() for alias in aliases}
    columns = {}
    for i, cell in enumerate(header):
        title = cell.strip().lower()
        if title in names:
            columns[i] = names[title]
        elif (name := attribute_name(title)) in attributes:
            columns[i] = ATTRIBUTE + name
    return columns


@dataclass(frozen=True)
class Parsed:
    """An import's file, read: each data row's line, and its fields by column (or why it
    cannot be read), the columns the file has, and the rows whose address comes again
    further down (each row's index → the later ones')."""

    lines: list[int]
    rows: list[dict[str, object] | str]
    given: frozenset[str]
    twins: dict[int, list[int]]


_parsed: dict[str, Parsed] = {}  # the import under way: read once, not per chunk


def parse(text: str, attributes: frozenset[str] = frozenset()) -> Parsed:
    records = _records(text)
    _, header = next(records)
    columns = _columns(header, attributes)
    lines: list[int] = []
    rows: list[dict[str, object] | str] = []
    for line, fields in records:
        lines.append(line)
        if len(fields) > len(header):
            rows.append(f"{len(fields)} fields, the header has {len(header)}")
            continue
        # one dict a row (a file of 363,000 rows: each more object is garbage collection
        # the event loop waits for), the attributes' only where the file has some
        row: dict[str, object] = {
            columns[i]: v.strip() for i, v in enumerate(fields) if i in columns
        }
        if attributes:
            row["attributes"] = {
                c.removeprefix(ATTRIBUTE): row.pop(c) for c in list(row) if c.startswith(ATTRIBUTE)
            }
        rows.append(row)
    given = {c for c in columns.values() if not c.startswith(ATTRIBUTE)}
    if len(given) < len(columns):
        given.add("attributes")
    return Parsed(lines, rows, frozenset(given), _later_twins(rows))


def _later_twins(rows: list[dict[str, object] | str]) -> dict[int, list[int]]:
    by_address: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        if isinstance(row, dict) and (email := str(row.get("email", "")).lower()):
            by_address.setdefault(email, []).append(i)
    return {i: same[k + 1 :] for same in by_address.values() for k, i in enumerate(same[:-1])}


async def _file_of(uow: UnitOfWork, job: ContactImport) -> Parsed:
    if job.id not in _parsed:
        content = await uow.session.scalar(
            select(ContactImport.content).where(ContactImport.id == job.id)
        )
        _parsed.clear()
        # off the event loop: a megabyte takes tens of ms, and /healthz must not wait
        attributes = frozenset(job.attribute_columns)
        _parsed[job.id] = await asyncio.to_thread(parse, content or "", attributes)
    return _parsed[job.id]


def reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if not error["loc"]:  # the row as a whole
            parts.append(message)
            continue
        field = "consent" if error["loc"][:1] == ("email_consent",) else str(error["loc"][0])
        parts.append(f"{field}: {message}")
    return "; ".join(parts)[:300]


def merged_attributes(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """The new values over the old ones; a value left empty takes the attribute away. At
    most MAX_ATTRIBUTES, as one file may give: the new ones first, then the old ones kept
    (imports with other columns would otherwise pile them up without end)."""
    merged = new | {name: value for name, value in old.items() if name not in new}
    kept = ((name, value) for name, value in merged.items() if value)
    return dict(itertools.islice(kept, MAX_ATTRIBUTES))


async def save(
    uow: UnitOfWork,
    people: list[ContactDetails],
    audience_ids: list[str],
    source: str,
    given: frozenset[str] = frozenset(COLUMNS),
    *,
    new_only: bool = False,
) -> list[str]:
    """Create or update the contacts (by address), record each change of consent, and add
    them to the audiences; their ids, in order. An existing contact's details change only
    where `given` (a file's columns) says they were given. `new_only`: an existing address is
    a conflict (one made meanwhile by a concurrent twin fails on the unique address: a 409
    too)."""
    now = uow.now()
    emails = [p.email.lower() for p in people]
    existing = {
        c.email: c
        for c in await uow.session.scalars(select(Contact).where(Contact.email.in_(emails)))
    }
    if new_only and existing:
        raise Conflict(f"a contact with e-mail {next(iter(existing))} exists already")
    new, changed, consents, ids = [], [], [], []
    for person, email in zip(people, emails, strict=True):
        contact = existing.get(email)
        fields = {
            "name": person.name,
            "phone": person.phone,
            "language": person.language,
            "email_consent": person.email_consent,
            "sms_consent": person.sms_consent,
            "attributes": merged_attributes(
                contact.attributes if contact else {}, person.attributes
            ),
        }
        if contact is None:
            contact_id = new_id()
            new.append(
                {
                    "id": contact_id,
                    "email": email,
                    "email_hash": address_hash(email),
                    "created_at": now,
                    **fields,
                }
            )
            existing[email] = Contact(
                id=contact_id,
                email_consent=person.email_consent,
                sms_consent=person.sms_consent,
                attributes=fields["attributes"],
            )
            consents.append((contact_id, "email", person.email_consent))
            if person.sms_consent:
                consents.append((contact_id, "sms", True))
        else:
            contact_id = contact.id
            changed.append({"b_id": contact_id, **{k: v for k, v in fields.items() if k in given}})
            if contact.email_consent != person.email_consent:
                consents.append((contact_id, "email", person.email_consent))
            if "sms_consent" in given and contact.sms_consent != person.sms_consent:
                consents.append((contact_id, "sms", person.sms_consent))
        ids.append(contact_id)
    if new:
        await uow.session.execute(insert(Contact), new)
    if changed:
        by_id = update(Contact.__table__).where(Contact.__table__.c.id == bindparam("b_id"))  # type: ignore[arg-type]
        await uow.session.execute(by_id, changed)
    await record_consents(uow, consents, source, now)
    memberships = [
        {"audience_id": a, "contact_id": c} for a in dict.fromkeys(audience_ids) for c in set(ids)
    ]
    if memberships:
        await uow.session.execute(
            upsert(uow.session, AudienceMember).on_conflict_do_nothing(), memberships
        )
    return ids


async def start_import(
    uow: UnitOfWork,
    raw: bytes,
    audience_ids: list[str],
    source: str,
    attributes: frozenset[str] = frozenset(),
) -> ContactImport:
    """An import of the file's contacts, checked now, imported in the background; of its
    other columns, those named in `attributes` are kept (as the contacts' attributes)."""
    checked = await asyncio.to_thread(read_csv, raw, attributes)  # 20 MB: half a second
    job = ContactImport(
        id=new_id(),
        audience_ids=audience_ids,
        attribute_columns=sorted(attributes),
        source=source,
        content=checked.text,
        status="queued",
        total_rows=checked.rows,
        next_line=2,
        processed_rows=0,
        imported=0,
        rejected=0,
        created_at=uow.now(),
    )
    uow.session.add(job)
    return job


async def run_imports(runtime: Runtime[NotificationsSettings]) -> None:
    while True:
        if not await import_chunk(runtime):
            await asyncio.sleep(runtime.settings.send_poll_interval_seconds)


async def import_chunk(runtime: Runtime[NotificationsSettings]) -> bool:
    """Import the next chunk of the oldest unfinished import; False if there is none."""
    async with runtime.uow() as uow:
        job = await uow.session.scalar(
            select(ContactImport)
            .options(defer(ContactImport.content))  # read once, when the job is taken up
            .where(ContactImport.status.in_(("queued", "running")))
            .order_by(ContactImport.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job is None:
            return False
        parsed = await _file_of(uow, job)
        lines = parsed.lines
        start = bisect.bisect_left(lines, job.next_line)
        phones_given = "phone" in parsed.given
        good, refused = await asyncio.to_thread(
            _validate, parsed, start, start + CHUNK, phones_given
        )
        good, refused_on_record = await against_records(uow, good, phones_given)
        refused += refused_on_record
        bad = [{"import_id": job.id, "line": line, "reason": why} for line, why in refused]
        # one row an address (see _validate); two spellings of one address, once
        by_email = {row.email.lower(): row for _, row in good}
        await save(uow, list(by_email.values()), job.audience_ids, f"import {job.id}", parsed.given)
        if bad:
            await uow.session.execute(insert(ContactImportError), bad)
        end = start + CHUNK
        job.status = "running" if end < len(lines) else "completed"
        job.next_line = lines[end] if end < len(lines) else (lines[-1] + 1 if lines else 2)
        job.processed_rows += len(good) + len(bad)
        job.imported += len(good)
        job.rejected += len(bad)
        if job.status == "completed":
            job.completed_at = uow.now()
            job.content = ""  # the people's data lives in their contacts now
            _parsed.pop(job.id, None)
        await uow.commit()
    return True


def _validate(
    parsed: Parsed, start: int, end: int, phones_given: bool
) -> tuple[list[tuple[int, CsvRow]], list[tuple[int, str]]]:
    """The rows from `start` to `end` checked (in a thread: checking addresses is CPU work):
    the good ones and each refused one, by line (the refused with their reason). An address
    on several lines imports the last good one of them: each good line before it is refused,
    naming it (else each counted as imported, and the later silently won)."""
    good: list[tuple[int, CsvRow]] = []
    refused: list[tuple[int, str]] = []
    context = {"phone_on_record": not phones_given}
    for i in range(start, min(end, len(parsed.rows))):
        line = parsed.lines[i]
        try:
            row = _checked(parsed.rows[i], context)
        except ValidationError as exc:
            refused.append((line, reason(exc)))
            continue
        except ValueError as exc:
            refused.append((line, str(exc)[:300]))
            continue
        later = [j for j in parsed.twins.get(i, []) if _passes(parsed.rows[j], context)]
        if later:
            why = f"email: the same address as line {parsed.lines[later[-1]]}, imported instead"
            refused.append((line, why))
        else:
            good.append((line, row))
    return good, refused


def _checked(row: dict[str, object] | str, context: dict[str, bool]) -> CsvRow:
    if isinstance(row, str):
        raise ValueError(row)
    if UNREADABLE in str(row):
        raise ValueError(UNREADABLE_LINE)
    return CsvRow.model_validate(row, context=context)


def _passes(row: dict[str, object] | str, context: dict[str, bool]) -> bool:
    try:
        _checked(row, context)
    except ValueError:  # pydantic's ValidationError is one
        return False
    return True


UNREADABLE_LINE = (
    "the line holds characters that cannot be read (bytes that are not UTF-8, as the rest of"
    " the file is): correct them and import the line again"
)
NO_PHONE_ON_RECORD = (
    "sms_consent: SMS consent needs a phone number to text: the file has no phone column "
    "and the contact no phone on record"
)
STOPPED = (
    "sms_consent: the number replied STOP to a text: only a START from it gives SMS consent back"
)


async def against_records(
    uow: UnitOfWork, good: list[tuple[int, Details]], phones_given: bool
) -> tuple[list[tuple[int, Details]], list[tuple[int, str]]]:
    """The rows that give SMS consent, checked against what is on record: not for a number
    that replied STOP (the row's, or the contact's on record); and, in a file without phones
    (a re-import of consents), only to a contact whose phone is on record. The others are
    refused, by line."""
    asking = {row.email.lower() for _, row in good if row.sms_consent}
    if not asking:
        return good, []
    found = await uow.session.execute(
        select(Contact.email, Contact.phone).where(Contact.email.in_(asking))
    )
    phones_on_record = {email: phone for email, phone in found}

    def phone_of(row: Details) -> str | None:
        return row.phone if phones_given else phones_on_record.get(row.email.lower())

    numbers = {phone_of(row) for _, row in good if row.sms_consent} - {None}
    stopped = set(
        await uow.session.scalars(select(SmsStop.phone).where(SmsStop.phone.in_(numbers)))
    )
    kept: list[tuple[int, Details]] = []
    refused: list[tuple[int, str]] = []
    for line, row in good:
        if row.sms_consent and phone_of(row) in stopped:
            refused.append((line, STOPPED))
        elif row.sms_consent and phone_of(row) is None:
            refused.append((line, NO_PHONE_ON_RECORD))
        else:
            kept.append((line, row))
    return kept, refused


def progress(job: ContactImport) -> float:
    return round(100 * job.processed_rows / job.total_rows, 1) if job.total_rows else 100.0


async def record_consents(
    uow: UnitOfWork, changes: list[tuple[str, str, bool]], source: str, at: datetime
) -> None:
    """Each change of consent, (contact id, channel, granted), into the consent history."""
    if changes:
        await uow.session.execute(
            insert(ConsentRecord),
            [
                {
                    "contact_id": contact_id,
                    "channel": channel,
                    "granted": granted,
                    "source": source,
                    "recorded_at": at,
                }
                for contact_id, channel, granted in changes
            ],
        )


async def erase(uow: UnitOfWork, contact_id: str) -> int:
    """Erase a person on their request (GDPR art. 17): the contact, their consent history
    and memberships go; the ledger keeps that messages went, but not to whom (what was
    still pending is cancelled); `contact.erased.v1` tells the other services, by the hash
    of the address only. A suppression stays: it holds no address. How many deliveries
    were kept."""
    contact = await uow.session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        raise NotFound(f"no contact with id {contact_id}")
    now = uow.now()
    pending = select(Delivery.send_id).where(
        Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.PENDING
    )
    touched = await sends.locked(uow, [s for s in await uow.session.scalars(pending) if s])
    cancelled = await uow.session.scalars(
        update(Delivery)
        .where(Delivery.contact_id == contact.id, Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.CANCELLED, lease=None)
        .returning(Delivery.send_id)
        .execution_options(synchronize_session=False)
    )
    await sends.moved(uow, Counter(cancelled), DeliveryStatus.CANCELLED, DeliveryStatus.PENDING)
    kept = await changed_rows(
        uow.session,
        update(Delivery)
        .where(Delivery.contact_id == contact.id)
        .values(contact_id=None, last_error=None),  # the server's words may quote the address
    )
    await uow.session.execute(
        update(Delivery)
        .where(Delivery.recipient_email == contact.email)  # their messages as an attendee
        .values(
            recipient_name=None, recipient_email=None, body="", attachment=None, last_error=None
        )
    )
    await uow.session.execute(delete(ConsentRecord).where(ConsentRecord.contact_id == contact.id))
    await uow.session.execute(delete(AudienceMember).where(AudienceMember.contact_id == contact.id))
    await uow.session.delete(contact)
    await uow.session.flush()
    for send in touched:  # theirs may have been the last delivery pending
        await sends.complete_if_done(uow, send)
    uow.publish(
        ContactErased(email_hash=contact.email_hash, erased_at=now), subject=contact.email_hash
    )
    return kept
