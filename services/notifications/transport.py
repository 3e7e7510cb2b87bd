"""How a message leaves: an e-mail over a pool of long-lived SMTP connections, a text message
through an SMS gateway's HTTP API, a webhook posted to a subscribing system, or nowhere (the
null transport, for benchmarks). Each takes a message's bytes, one recipient and, where they
travel beside the message (HTTP), its headers; an exception is a failed attempt, which
`failure_of` turns into what the ledger and the events may keep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Protocol

import aiosmtplib
import httpx

from services.notifications.domain import Failure, is_gsm_7
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import public_addresses


class Transport(Protocol):
    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None: ...

    async def close(self) -> None: ...


class NullTransport:
    """Accepts everything and sends nothing: measures our path without a mail server's."""

    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None:
        return None

    async def close(self) -> None:
        return None


class SmtpPool:
    """`size` connections kept open between messages (a connection per message costs a TCP
    and TLS handshake and a greeting each time). A connection that failed is dropped and
    opened again on its next use; one idle for a while is checked with NOOP first."""

    IDLE_CHECK_SECONDS = 30.0

    def __init__(self, settings: NotificationsSettings) -> None:
        self._settings = settings
        self._envelope_from = parseaddr(settings.mail_from)[1]
        self._idle: asyncio.Queue[tuple[aiosmtplib.SMTP | None, float]] = asyncio.Queue()
        for _ in range(settings.smtp_pool_size):
            self._idle.put_nowait((None, 0.0))

    def _connection(self) -> aiosmtplib.SMTP:
        s = self._settings
        return aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            timeout=s.smtp_timeout_seconds,
            use_tls=s.smtp_use_tls,
            start_tls=s.smtp_start_tls,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )

    async def _ready(self, smtp: aiosmtplib.SMTP | None, idle_since: float) -> aiosmtplib.SMTP:
        if smtp is not None and smtp.is_connected:
            if time.monotonic() - idle_since < self.IDLE_CHECK_SECONDS:
                return smtp
            try:
                await smtp.noop()
                return smtp
            except aiosmtplib.SMTPException:
                smtp.close()
        smtp = self._connection()
        await smtp.connect()
        return smtp

    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None:
        smtp, idle_since = await self._idle.get()
        keep: aiosmtplib.SMTP | None = None
        try:
            smtp = await self._ready(smtp, idle_since)
            # never recipients parsed out of a display name: exactly the one address
            await smtp.sendmail(self._envelope_from, [recipient], message)
            keep = smtp
        except aiosmtplib.SMTPResponseException:
            keep = smtp  # the server answered: the connection is sound
            raise
        except aiosmtplib.SMTPRecipientsRefused:
            keep = smtp
            raise
        finally:
            if keep is None and smtp is not None:
                smtp.close()
            self._idle.put_nowait((keep, time.monotonic()))

    async def close(self) -> None:
        while not self._idle.empty():
            smtp, _ = self._idle.get_nowait()
            if smtp is not None and smtp.is_connected:
                try:
                    await smtp.quit()
                except aiosmtplib.SMTPException:
                    smtp.close()


class Refused(Exception):
    """An HTTP endpoint answered, and not with a 2xx."""

    who = "the HTTP endpoint"

    def __init__(self, status: int) -> None:
        super().__init__(f"{self.who} answered HTTP {status}")
        self.status = status


class GatewayRefused(Refused):
    who = "the SMS gateway"


class WebhookRefused(Refused):
    who = "the webhook's endpoint"


class GatewayMissing(Exception):
    """No SMS gateway is configured: retried, so an SMS send goes once one is."""


class SmsGateway:
    """Text messages through GatewayAPI's REST call (`POST /rest/mtsms`, one recipient per
    call, `Authorization: Token …`), over one HTTP client whose connections are kept open.
    The message is the text as UTF-8; the recipient an E.164 number (+4512345678). A text
    outside the GSM alphabet (an emoji, a curly quote) is sent as UCS-2, not garbled."""

    def __init__(self, settings: NotificationsSettings) -> None:
        token = settings.sms_gateway_token
        self._sender = settings.sms_sender
        self._client = httpx.AsyncClient(
            base_url=settings.sms_gateway_url or "",
            timeout=settings.sms_timeout_seconds,
            headers={"Authorization": f"Token {token.get_secret_value()}"} if token else {},
        )

    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None:
        text = message.decode()
        call: dict[str, object] = {
            "sender": self._sender,
            "message": text,
            "recipients": [{"msisdn": int(recipient.removeprefix("+"))}],
        }
        if not is_gsm_7(text):
            call["encoding"] = "UCS2"
        response = await self._client.post("/rest/mtsms", json=call)
        if not response.is_success:
            raise GatewayRefused(response.status_code)

    async def close(self) -> None:
        await self._client.aclose()


class WebhookBlocked(Exception):
    """The endpoint's host resolves to an address on this machine or a private network."""


class WebhookPoster:
    """A send's message posted to a subscribing system: the JSON body to the endpoint's URL,
    with its Standard Webhooks headers. Its host is resolved first, and a private address
    refused (a name can be pointed inward after it was subscribed; what is left is the
    moment between this look-up and the client's); redirects are not followed (only the URL
    was checked)."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self._allow_local = settings.webhook_allow_local
        self._client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            headers={"User-Agent": "Budskab-Webhooks/1"},
        )

    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None:
        url = httpx.URL(recipient)
        if not self._allow_local and not await public_addresses(url.host, url.port or 443):
            raise WebhookBlocked(f"{url.host} resolves to a local or private address")
        response = await self._client.post(
            url,
            content=message,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        if not response.is_success:
            raise WebhookRefused(response.status_code)

    async def close(self) -> None:
        await self._client.aclose()


class NoGateway:
    async def send(
        self, message: bytes, recipient: str, headers: Mapping[str, str] | None = None
    ) -> None:
        raise GatewayMissing("no SMS gateway is configured (NOTIFICATIONS_SMS_GATEWAY_URL)")

    async def close(self) -> None:
        return None


def transport_for(settings: NotificationsSettings) -> Transport:
    return NullTransport() if settings.mail_transport == "null" else SmtpPool(settings)


def sms_transport_for(settings: NotificationsSettings) -> Transport:
    return SmsGateway(settings) if settings.sms_gateway_url else NoGateway()


def failure_of(exc: Exception) -> Failure:
    return Failure(repr(exc), public_reason(exc), is_permanent(exc))


def public_reason(exc: Exception) -> str:
    """Why a send failed, fit for events and logs: a category and the SMTP code, never the
    server's text (a refusal quotes the address)."""
    if isinstance(exc, Refused):
        return f"refused by {exc.who} (HTTP {exc.status})"
    if isinstance(exc, WebhookBlocked):
        return "the webhook's host resolves to a local or private address"
    if isinstance(exc, GatewayMissing):
        return "no SMS gateway is configured"
    if isinstance(exc, httpx.TimeoutException):
        return "the HTTP endpoint timed out"
    if isinstance(exc, httpx.TransportError):
        return f"the HTTP endpoint is unreachable ({type(exc).__name__})"
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = ", ".join(str(code) for code in sorted({r.code for r in exc.recipients}))
        return f"recipient refused (SMTP {codes})"
    for kind, what in (
        (aiosmtplib.SMTPRecipientRefused, "recipient refused"),
        (aiosmtplib.SMTPSenderRefused, "sender refused"),
        (aiosmtplib.SMTPDataError, "message refused"),
        (aiosmtplib.SMTPResponseException, "refused"),
    ):
        if isinstance(exc, kind):
            return f"{what} (SMTP {exc.code})"
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "mail server timed out"
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return f"mail server unreachable ({type(exc).__name__})"
    return f"not sent ({type(exc).__name__})"


def is_permanent(exc: Exception) -> bool:
    """Errors a retry cannot mend for this message: it cannot be built, or the server refused
    this recipient or this content for good (5xx). A refused greeting, login or sender is the
    server's or our configuration's fault: those are retried (and alerted on), not failed; a
    4xx (throttling, greylisting) is retried. The SMS gateway alike: a request it calls bad
    (400, 422: the number or the text) is failed; its refusal of our token (401, 403),
    its throttling (429) and its own errors (5xx) are retried. A webhook's endpoint is tried
    again on any answer but a 2xx, except 410 Gone."""
    if isinstance(exc, GatewayRefused):
        return exc.status in (400, 422)
    if isinstance(exc, WebhookRefused):  # a system away or failing is tried again
        return exc.status == 410  # Gone: the endpoint says it will never take it
    if isinstance(exc, WebhookBlocked | httpx.InvalidURL):
        return True
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        return 500 <= exc.code < 600
    return isinstance(exc, ValueError | TypeError)
