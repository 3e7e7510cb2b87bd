"""Attendees' personal links: a signed token names one registration, and is all the person
needs to see it, cancel it or accept a seat offered to them. No account, nothing to guess."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import NotFound


class Links:
    def __init__(self, key: str) -> None:
        self._registrations = URLSafeSerializer(key, salt="budskab.events.registration")

    def token(self, registration_id: str) -> str:
        return self._registrations.dumps(registration_id)

    def registration_id(self, token: str) -> str:
        """The registration a token names; a token that was not signed here finds nothing."""
        try:
            value = self._registrations.loads(token)
        except BadSignature:
            raise NotFound("no registration for this link") from None
        if not isinstance(value, str):
            raise NotFound("no registration for this link")
        return value
