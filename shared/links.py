"""Personal links: a signed token names one record (a registration, an address to
unsubscribe) and is all a person needs to reach it. No account, nothing to guess."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

from shared.errors import NotFound


class Signer:
    """Tokens for one kind of record: a salt per kind, so one kind's token never opens another."""

    def __init__(self, key: str, kind: str) -> None:
        self._serializer = URLSafeSerializer(key, salt=f"budskab.{kind}")
        self._kind = kind.rsplit(".", 1)[-1]

    def token(self, value: str) -> str:
        return self._serializer.dumps(value)

    def value(self, token: str) -> str:
        """What a token names; a token that was not signed here finds nothing."""
        try:
            value = self._serializer.loads(token)
        except BadSignature:
            raise NotFound(f"no {self._kind} for this link") from None
        if not isinstance(value, str):
            raise NotFound(f"no {self._kind} for this link")
        return value
