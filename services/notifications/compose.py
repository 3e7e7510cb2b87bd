"""E-mails as bytes, built fast enough for a million recipients.

The standard library's `EmailMessage` takes about 2 ms to build and flatten one message —
half an hour of CPU for a million — so the few shapes we send are written here directly,
as RFC 5322 / MIME: plain text, or text and HTML as alternatives, optionally with a calendar
file; UTF-8 in base64 (safe through any server); header text encoded per RFC 2047.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache


@lru_cache(maxsize=1024)
def _encoded(text: str, field: str = "Subject") -> str:
    """Header text as ASCII, folded to lines of at most 78: as it is if it is short ASCII,
    else (RFC 2047) encoded words."""
    if text.isascii() and len(text) < 60:
        return text
    charset = "us-ascii" if text.isascii() else "utf-8"
    return Header(text, charset, header_name=field).encode(linesep="\r\n")


def _address(name: str, address: str) -> str:
    """A mailbox whose display name can neither add an address nor a header."""
    if not name or (name.isascii() and len(name) < 60):
        return formataddr((name, address))  # quoted as needed
    return f"{_encoded(name, 'To')} <{address}>"


@lru_cache(maxsize=16)
def _mailbox(header: str) -> str:
    """'Budskab <budskab@x>' with its name encoded if need be."""
    return _address(*parseaddr(header))


@lru_cache(maxsize=4)
def _date(epoch_second: int) -> str:
    """The Date header: the same for every message of a second."""
    return format_datetime(datetime.fromtimestamp(epoch_second, UTC))


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _part(content_type: str, data: bytes, extra: str = "") -> bytes:
    return (
        f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n{extra}\r\n"
    ).encode() + _base64(data)


def message(
    *,
    sender: str,
    name: str,
    address: str,
    subject: str,
    text: str,
    html: str | None = None,
    calendar: str | None = None,
    message_id: str,
    date: datetime,
    headers: dict[str, str] | None = None,
) -> bytes:
    """One recipient's message. The name and subject are encoded (RFC 2047) and the name
    quoted as needed, so neither can add a header or an address; `headers` are our own."""
    if any(c in "\r\n" for c in name + address + subject):
        raise ValueError("a name, address or subject with a line break cannot be a header")
    _deliverable(name, address)
    body = _part('text/plain; charset="utf-8"', text.encode())
    if html is not None:
        body = _multipart("alternative", [body, _part('text/html; charset="utf-8"', html.encode())])
    if calendar is not None:
        attachment = _part(
            'text/calendar; charset="utf-8"; method="PUBLISH"',
            calendar.encode(),
            'Content-Disposition: attachment; filename="event.ics"\r\n',
        )
        body = _multipart("mixed", [body, attachment])
    lines = [
        f"From: {_mailbox(sender)}",
        f"To: {_address(name, address)}",
        f"Subject: {_encoded(subject)}",
        f"Date: {_date(int(date.timestamp()))}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
        *(f"{key}: {value}" for key, value in (headers or {}).items()),
    ]
    return "\r\n".join(lines).encode("ascii") + b"\r\n" + body


MAX_NAME = 200  # as a contact's or an attendee's name may be


def _deliverable(name: str, address: str) -> None:
    """What a message is sent to may come from another service's event: an address a mail
    server cannot take, or a name too long for a header line, fails here, before a server
    is asked (once `not-an-address` was handed over, a 100,000-character name refused).
    Every address was checked in full where it came in (`MailAddress`); this is the shape
    an SMTP command needs, at a twentieth of the cost (a million of them: 40 s of CPU)."""
    if len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise ValueError("the address is not one a mail server takes")
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is longer than {MAX_NAME} characters")


# RFC 5321's dot-atom local part @ a domain of letter-digit-hyphen labels with a dot, ASCII
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(
    rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*"
    rf"@{_LABEL}(?:\.{_LABEL})+"
)


def _multipart(kind: str, parts: list[bytes]) -> bytes:
    # every part is in base64, whose lines never hold "=_": a boundary needs nothing random
    # to be safe, only to differ from the one around it
    boundary = f"=_budskab_{kind}"
    out = [f'Content-Type: multipart/{kind}; boundary="{boundary}"\r\n\r\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode() + part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)
