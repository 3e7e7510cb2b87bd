"""E-mails as bytes, built fast enough for a million recipients.

Everything a send's recipients share — From, Subject, the MIME headers and the encoded body
(and an attachment) — is rendered once with the standard library's `email` package; each
recipient's message is those bytes with its own To, Message-ID and unsubscribe headers put
in front. (Building each message whole takes about 2 ms: 30 minutes of CPU for a million.)
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import formataddr

_POLICY = policy.SMTP.clone(linesep="\r\n")


@dataclass(frozen=True)
class Shared:
    """The part of a message all its recipients get alike."""

    head: bytes  # header lines, each ending in CRLF
    body: bytes  # the blank line and what follows it


def shared_part(sender: str, subject: str, text: str, attachment: str | None = None) -> Shared:
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = sender
    mail["Subject"] = subject
    mail.set_content(text)
    if attachment:
        mail.add_attachment(
            attachment, subtype="calendar", filename="event.ics", params={"method": "PUBLISH"}
        )
    raw = mail.as_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    return Shared(head + b"\r\n", b"\r\n" + body)


def personal(
    shared: Shared,
    *,
    name: str,
    address: str,
    message_id: str,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One recipient's message. The name is encoded (RFC 2047) and quoted as needed, so a
    display name can never add an address; the values are our own, never a person's text."""
    if any(c in "\r\n" for c in name + address):
        raise ValueError("a name or address with a line break cannot be a header")
    lines = [
        f"To: {formataddr((name, address), charset='utf-8')}",
        f"Message-ID: {message_id}",
        *(f"{key}: {value}" for key, value in (headers or {}).items()),
    ]
    own = "\r\n".join(lines).encode("ascii") + b"\r\n"
    return own + shared.head + shared.body
