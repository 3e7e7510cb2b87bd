"""Attendees' personal links: a signed token names one registration, and is all the person
needs to see it, cancel it or accept a seat offered to them. No account, nothing to guess."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import NotFound


class Links:
    def __init__(self, key: str) -> None:
        # a salt per kind: an invitation's token never opens a registration, nor the reverse
        self._registrations = URLSafeSerializer(key, salt="budskab.events.registration")
        self._invitations = URLSafeSerializer(key, salt="budskab.events.invitation")

    def token(self, registration_id: str) -> str:
        return self._registrations.dumps(registration_id)

    def registration_id(self, token: str) -> str:
        """The registration a token names; a token that was not signed here finds nothing."""
        return _load(self._registrations, token, "registration")

    def invitation_token(self, invitation_id: str) -> str:
        return self._invitations.dumps(invitation_id)

    def invitation_id(self, token: str) -> str:
        return _load(self._invitations, token, "invitation")


def _load(serializer: URLSafeSerializer, token: str, what: str) -> str:
    try:
        value = serializer.loads(token)
    except BadSignature:
        raise NotFound(f"no {what} for this link") from None
    if not isinstance(value, str):
        raise NotFound(f"no {what} for this link")
    return value
