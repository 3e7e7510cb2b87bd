"""Attendees' personal links: a signed token names one registration or invitation, and is all
the person needs to see it, cancel it, accept a seat offered to them or answer."""

from __future__ import annotations

from shared.links import Signer


class Links:
    def __init__(self, key: str) -> None:
        self._registrations = Signer(key, "events.registration")
        self._invitations = Signer(key, "events.invitation")

    def token(self, registration_id: str) -> str:
        return self._registrations.token(registration_id)

    def registration_id(self, token: str) -> str:
        return self._registrations.value(token)

    def invitation_token(self, invitation_id: str) -> str:
        return self._invitations.token(invitation_id)

    def invitation_id(self, token: str) -> str:
        return self._invitations.value(token)
