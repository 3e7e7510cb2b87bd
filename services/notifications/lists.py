"""Lists: what each audience is sent on — its contacts' consent (the default) or the
authority's public task — and whom a send reaches because of it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.domain import EMAIL_CHANNELS, LawfulBasis, SuppressionReason
from services.notifications.tables import (
    AudienceList,
    BasisRecord,
    Contact,
    SmsStop,
    Suppression,
)
from shared.contracts.vocabulary import ChannelKind
from shared.db import upsert
from shared.uow import UnitOfWork


async def basis_of(session: AsyncSession, audience_id: str | None) -> LawfulBasis:
    basis = await session.scalar(
        select(AudienceList.lawful_basis).where(AudienceList.audience_id == audience_id)
    )
    return LawfulBasis(basis or LawfulBasis.CONSENT)


async def set_basis(
    uow: UnitOfWork, audience_id: str, basis: LawfulBasis, note: str, set_by: str
) -> None:
    """From now on: a send already under way keeps the basis it started on. Each setting is
    kept in the audience's history."""
    values = {"lawful_basis": basis, "basis_note": note, "updated_at": uow.now()}
    await uow.session.execute(
        upsert(uow.session, AudienceList)
        .values(audience_id=audience_id, **values)
        .on_conflict_do_update(index_elements=["audience_id"], set_=values)
    )
    uow.session.add(
        BasisRecord(
            audience_id=audience_id,
            lawful_basis=basis,
            basis_note=note,
            set_by=set_by,
            recorded_at=values["updated_at"],
        )
    )


async def basis_history(session: AsyncSession, audience_id: str) -> list[BasisRecord]:
    return list(
        await session.scalars(
            select(BasisRecord)
            .where(BasisRecord.audience_id == audience_id)
            .order_by(BasisRecord.id)
        )
    )


def reachable(channel: str, basis: LawfulBasis = LawfulBasis.CONSENT) -> ColumnElement[bool]:
    """Which contacts a send on `channel` goes to: on consent, those who gave it for the
    channel; on the public task, everyone the channel can reach (less the suppressed: see
    `suppressing`)."""
    public_task = basis == LawfulBasis.PUBLIC_TASK
    if channel in EMAIL_CHANNELS:
        return true() if public_task else Contact.email_consent.is_(True)
    if channel == ChannelKind.SMS:  # never to a number that replied STOP
        stopped = select(SmsStop.phone).where(SmsStop.phone == Contact.phone).exists()
        has_phone = Contact.phone.is_not(None) & ~stopped
        return has_phone if public_task else Contact.sms_consent.is_(True) & has_phone
    return false()


def suppressing(channel: str, basis: LawfulBasis) -> ColumnElement[bool]:
    """Which suppression (joined to a contact) keeps a send on `channel` from them: any of
    their address's, for e-mail; for a text, on the public task, their unsubscribe (an
    objection, art. 21: to being told, whatever the channel) — a bounce says nothing of a
    phone; on consent, none: their SMS consent decides."""
    same_address = Suppression.email_hash == Contact.email_hash
    if channel in EMAIL_CHANNELS:
        return same_address
    if channel == ChannelKind.SMS and basis == LawfulBasis.PUBLIC_TASK:
        return same_address & (Suppression.reason == SuppressionReason.UNSUBSCRIBED)
    return false()
