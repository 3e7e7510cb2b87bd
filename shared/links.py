"""Personal links: a signed token names one record (a registration, an address to
unsubscribe) and is all a person needs to reach it. No account, nothing to guess."""

from __future__ import annotations

import hashlib
import hmac

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

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


class ExpiringSigner:
    """Tokens that open one kind of record for `days` (a report shared with management):
    a link forwarded once does not open it for ever."""

    def __init__(self, key: str, kind: str, days: int) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt=f"budskab.{kind}")
        self._kind, self._seconds = kind, days * 86400

    def token(self, value: str) -> str:
        return self._serializer.dumps(value)

    def value(self, token: str) -> str:
        try:
            value = self._serializer.loads(token, max_age=self._seconds)
        except BadSignature:  # also expired
            raise NotFound(f"no {self._kind} for this link (it may have expired)") from None
        return str(value)


def survey_token(key: str, target: str, person: str) -> str:
    """One person's single-use link to answer a survey: `target` is the event (its open
    survey is answered) or the survey itself, `person` whom the link was made for (a
    registration, or a reference the survey's owner chose). The notifications service makes
    them for the survey e-mail, the metrics service reads them."""
    return Signer(key, "survey").token(f"{target}/{person}")


def survey_link(base_url: str, key: str, target: str, person: str) -> str:
    """The survey link itself: the metrics service's answer page (at `base_url`) for it."""
    return f"{base_url.rstrip('/')}/survey/{survey_token(key, target, person)}"


def survey_person(key: str, target: str, person: str) -> str:
    """Whom a survey link was made for, as an HMAC keyed with the link secret: a database
    that also knows the registrations cannot tell from it who answered."""
    message = f"{target}/{person}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def survey_link_parts(key: str, token: str) -> tuple[str, str]:
    """(target, person) of a survey token; NotFound for a token not signed here."""
    target, slash, person = Signer(key, "survey").value(token).partition("/")
    if not slash or not target or not person:
        raise NotFound("no survey for this link")
    return target, person
