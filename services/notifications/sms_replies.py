"""Replies to our texts, forwarded by the SMS gateway: STOP and START. A STOP belongs to the
number, not to a contact: no send texts it again, on any lawful basis, whoever has it on
record now or is imported with it later — until a START from the same number lifts it and
gives back the SMS consent the STOP withdrew. Each reply is acted on once (by its id)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, select, update

from services.notifications.contacts import record_consents
from services.notifications.domain import SmsKeyword
from services.notifications.tables import ConsentRecord, Contact, SmsReplyTaken, SmsStop
from shared.db import upsert
from shared.uow import UnitOfWork

SOURCE = "sms reply "  # a consent change's source: the reply's id follows


@dataclass(frozen=True)
class Taken:
    stopped: int = 0  # contacts of the number whose texts stopped
    resumed: int = 0  # contacts of the number given SMS consent back
    repeated: bool = False  # this reply was acted on before: nothing changed now


async def take(uow: UnitOfWork, reply_id: int, msisdn: int, keyword: SmsKeyword) -> Taken:
    """Act on a STOP or START from `msisdn`, unless this reply was acted on before."""
    first_time = await uow.session.scalar(
        upsert(uow.session, SmsReplyTaken)
        .values(id=reply_id, taken_at=uow.now())
        .on_conflict_do_nothing()
        .returning(SmsReplyTaken.id)
    )
    if first_time is None:
        return Taken(repeated=True)
    phone, source = f"+{msisdn}", f"{SOURCE}{reply_id}"
    if keyword == SmsKeyword.STOP:
        return Taken(stopped=await _stop(uow, phone, source))
    return Taken(resumed=await _start(uow, phone, source))


async def _stop(uow: UnitOfWork, phone: str, source: str) -> int:
    """The number stopped (if it was not): its contacts' SMS consent withdrawn, kept in their
    consent history; how many contacts have it."""
    newly = await uow.session.scalar(
        upsert(uow.session, SmsStop)
        .values(phone=phone, stopped_at=uow.now(), source=source)
        .on_conflict_do_nothing()
        .returning(SmsStop.phone)
    )
    if newly is None:
        return 0
    contacts = list(await uow.session.scalars(select(Contact.id).where(Contact.phone == phone)))
    await _set_consent(uow, phone, False, source)
    return len(contacts)


async def _start(uow: UnitOfWork, phone: str, source: str) -> int:
    """The number's stop lifted, and the SMS consent a STOP withdrew given back to its
    contacts (not given to one who never gave it); how many."""
    await uow.session.execute(delete(SmsStop).where(SmsStop.phone == phone))
    history = await uow.session.execute(
        select(ConsentRecord.contact_id, ConsentRecord.source)
        .join(Contact, Contact.id == ConsentRecord.contact_id)
        .where(Contact.phone == phone, ConsentRecord.channel == "sms")
        .order_by(ConsentRecord.id)
    )
    last_change = {contact_id: change for contact_id, change in history}  # the latest wins
    withdrawn = [c for c, change in last_change.items() if change.startswith(SOURCE)]
    return await _set_consent(uow, phone, True, source, Contact.id.in_(withdrawn))


async def _set_consent(
    uow: UnitOfWork, phone: str, granted: bool, source: str, *only: ColumnElement[bool]
) -> int:
    changed = list(
        await uow.session.scalars(
            update(Contact)
            .where(Contact.phone == phone, Contact.sms_consent.is_not(granted), *only)
            .values(sms_consent=granted)
            .returning(Contact.id)
            .execution_options(synchronize_session=False)
        )
    )
    await record_consents(uow, [(c, "sms", granted) for c in changed], source, uow.now())
    return len(changed)
