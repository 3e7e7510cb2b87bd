"""Bounce and complaint intake: what the mail provider reports after a message was accepted.

Two shapes: a provider's webhook JSON (Postmark's field names: `RecordType`, `Type`, `Email`,
`MessageID`), and a delivery status notification e-mail (RFC 3464, `multipart/report`) as
the mail server returns it, parsed with the standard library. A hard bounce or a complaint
suppresses the address for every later send; a bounce also marks the message's delivery
bounced, found by the Message-ID we gave it. A soft bounce (4.x.x, "delayed") changes
nothing: the mail server is still trying.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message

from sqlalchemy import ColumnElement, func, select, update

from services.notifications import sends
from services.notifications.domain import DeliveryStatus, SuppressionReason, address_hash
from services.notifications.suppressions import suppress
from services.notifications.tables import Contact, Delivery
from shared.contracts.notifications import DeliveryBounced
from shared.errors import RuleViolation
from shared.uow import UnitOfWork

_OUR_MESSAGE_ID = re.compile(r"<([0-9a-f-]{36})@budskab>")


@dataclass(frozen=True)
class Report:
    """One recipient's fate as the provider tells it."""

    address: str
    reason: SuppressionReason | None  # None: soft, nothing to do
    message_id: str | None = None


def from_provider(record_type: str, kind: str, address: str, message_id: str | None) -> Report:
    if record_type == "SpamComplaint":
        return Report(address, SuppressionReason.COMPLAINED, message_id)
    hard = record_type == "Bounce" and kind in {
        "HardBounce",
        "BadEmailAddress",
        "ManuallyDeactivated",
    }
    return Report(address, SuppressionReason.BOUNCED if hard else None, message_id)


MAX_DSN_RECIPIENTS = 100  # a mail server reports a message's failed recipients, a handful
READ_AT_MOST = 256 * 1024
# a recipient's block names it once or twice (Final-Recipient, Original-Recipient)
_RECIPIENT_FIELD = re.compile(rb"^(?:final|original)-recipient:", re.IGNORECASE | re.MULTILINE)


def from_dsn(raw: bytes) -> list[Report]:
    """Each recipient of a delivery status notification; [] if it is not one.

    Only its first READ_AT_MOST bytes are read: the human part, the recipients' status and
    the returned message's headers come first, and the rest (the returned message's body, up
    to the whole file) took 0.6 s for 20 MB, holding the GIL for much of it. A report of more
    than MAX_DSN_RECIPIENTS recipients is refused before it is parsed (150,000 took 34 s).
    Still, call it off the event loop."""
    head = raw[:READ_AT_MOST]
    if len(_RECIPIENT_FIELD.findall(head)) > 2 * MAX_DSN_RECIPIENTS:
        raise RuleViolation(
            f"a delivery status notification reports at most {MAX_DSN_RECIPIENTS} recipients"
        )
    try:
        return _reports_in(message_from_bytes(head, policy=policy.default))
    except RecursionError:  # parts nested in parts, hundreds deep: the parser's recursion
        raise RuleViolation("the message nests its parts too deeply to be a report") from None


def _reports_in(report: Message) -> list[Report]:
    message_id = None
    statuses: list[Message] = []
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            # the per-message block first, then one block per recipient
            statuses.extend(part.get_payload()[1:])  # type: ignore[arg-type,index]
        elif content_type in ("text/rfc822-headers", "message/rfc822"):
            original = part.get_payload()
            text = original if isinstance(original, str) else str(original[0])  # type: ignore[index]
            found = _OUR_MESSAGE_ID.search(text)
            message_id = found.group(0) if found else message_id
    reports = []
    for block in statuses:
        recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
        address = recipient.split(";", 1)[-1].strip()
        action = str(block.get("Action", "")).strip().lower()
        status = str(block.get("Status", "")).strip()
        if not address:
            continue
        hard = action == "failed" and status.startswith("5")
        reports.append(Report(address, SuppressionReason.BOUNCED if hard else None, message_id))
    return reports


def _addressed_to(address: str) -> ColumnElement[bool]:
    """The delivery went to this address (its contact's, or its attendee's): a report names
    the message it bounced, and the address it bounced from must be that message's."""
    of_contact = select(Contact.id).where(Contact.email_hash == address_hash(address))
    return Delivery.contact_id.in_(of_contact) | (
        func.lower(Delivery.recipient_email) == address.lower()
    )


async def take(uow: UnitOfWork, reports: list[Report]) -> dict[str, int]:
    """Suppress what the reports call for and mark the bounced deliveries; the counts."""
    suppressed = bounced = 0
    for report in reports:
        if report.reason is None:
            continue
        await suppress(uow, address_hash(report.address), report.reason)
        suppressed += 1
        found = _OUR_MESSAGE_ID.search(report.message_id or "")
        if report.reason == SuppressionReason.BOUNCED and found:
            marked = (
                await uow.session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id == found.group(1),
                        Delivery.status == DeliveryStatus.SENT,
                        _addressed_to(report.address),
                    )
                    .values(status=DeliveryStatus.BOUNCED)
                    .returning(
                        Delivery.send_id,
                        Delivery.activity_id,
                        Delivery.plan_id,
                        Delivery.contact_id,
                        Delivery.channel,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            bounced += len(marked)
            of_sends = Counter(row.send_id for row in marked)
            await sends.moved(uow, of_sends, DeliveryStatus.BOUNCED, DeliveryStatus.SENT)
            for row in marked:  # an activity's: its reach was reported, and is less now
                if row.activity_id and row.plan_id and row.contact_id:
                    about = DeliveryBounced(
                        delivery_id=found.group(1),
                        activity_id=row.activity_id,
                        plan_id=row.plan_id,
                        contact_id=row.contact_id,
                        channel=row.channel,
                        bounced_at=uow.now(),
                    )
                    uow.publish(about, subject=about.delivery_id)
    return {"reports": len(reports), "suppressed": suppressed, "bounced": bounced}
