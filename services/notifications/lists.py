"""Lists: what each audience is sent on — its contacts' consent (the default) or the
authority's public task — and whom a send reaches because of it."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifications.domain import EMAIL_CHANNELS, LawfulBasis
from services.notifications.tables import AudienceList, Contact
from shared.contracts.vocabulary import ChannelKind
from shared.uow import UnitOfWork


async def basis_of(session: AsyncSession, audience_id: str | None) -> LawfulBasis:
    basis = await session.scalar(
        select(AudienceList.lawful_basis).where(AudienceList.audience_id == audience_id)
    )
    return LawfulBasis(basis or LawfulBasis.CONSENT)


async def set_basis(
    uow: UnitOfWork, audience_id: str, basis: LawfulBasis, note: str
) -> AudienceList:
    """From now on: a send already under way keeps the basis it started on."""
    entry = await uow.session.get(AudienceList, audience_id, with_for_update=True)
    if entry is None:
        entry = AudienceList(audience_id=audience_id)
        uow.session.add(entry)
    entry.lawful_basis, entry.basis_note, entry.updated_at = basis, note, uow.now()
    return entry


def reachable(channel: str, basis: LawfulBasis = LawfulBasis.CONSENT) -> ColumnElement[bool]:
    """Which contacts a send on `channel` goes to: on consent, those who gave it for the
    channel; on the public task, everyone the channel can reach. (An unsubscribed or bounced
    address is left out either way: the fan-out marks it suppressed.)"""
    public_task = basis == LawfulBasis.PUBLIC_TASK
    if channel in EMAIL_CHANNELS:
        return true() if public_task else Contact.email_consent.is_(True)
    if channel == ChannelKind.SMS:
        has_phone = Contact.phone.is_not(None)
        return has_phone if public_task else Contact.sms_consent.is_(True) & has_phone
    return false()
