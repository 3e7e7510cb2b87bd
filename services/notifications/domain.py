"""Delivery rules in plain Python: who gets what, and when a failed send is tried again."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from shared.contracts.planning import ActivityApproved
from shared.contracts.vocabulary import ActivityKind, ChannelKind
from shared.retry import backoff_delay
from shared.time import LOCAL_TIME

EMAIL_CHANNELS = {ChannelKind.NEWSLETTER, ChannelKind.EMAIL}
WEBHOOK = ChannelKind.WEBHOOK  # to the systems subscribed to an audience, not to contacts
SENT_CHANNELS = EMAIL_CHANNELS | {ChannelKind.SMS, WEBHOOK}  # what this service sends

# GSM 03.38, the alphabet a text message carries at 160 characters a part (Danish included);
# any other character makes the whole message UCS-2, at 70
GSM_7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)


GSM_7_ESCAPED = frozenset("^{}\\[~]|€\f")  # sent as two septets each


def is_gsm_7(text: str) -> bool:
    return all(c in GSM_7 for c in text)


class SmsKeyword(StrEnum):
    STOP = "stop"  # withdraws the number's consent to texts: none is sent to it, on any basis
    START = "start"  # gives it back


KEYWORDS = {
    **dict.fromkeys(("STOP", "STOPP", "AFMELD", "FRAMELD", "UNSUBSCRIBE"), SmsKeyword.STOP),
    **dict.fromkeys(("START", "TILMELD"), SmsKeyword.START),
}


def sms_keyword(reply: str) -> SmsKeyword | None:
    """'Stop', 'STOP tak', 'afmeld.', 'BUDSKAB STOP', 'start': the reply's first word, or its
    second (after the keyword a shared number routes by), in any case. A reply with both
    words is a STOP: taking a question for one errs the safe way, the texts stop."""
    found = {KEYWORDS.get(word.strip(".!,?").upper()) for word in reply.split(maxsplit=2)[:2]}
    if SmsKeyword.STOP in found:
        return SmsKeyword.STOP
    return SmsKeyword.START if SmsKeyword.START in found else None


def sms_parts(text: str) -> int:
    """How many messages a text goes as, each billed as one: GSM text 160 septets in one,
    else parts of 153 (an escaped character's two septets are not split between parts);
    any other text 70 UCS-2 units in one, else parts of 67 (nor is an emoji's pair)."""
    if is_gsm_7(text):
        sizes, alone, part = [2 if c in GSM_7_ESCAPED else 1 for c in text], 160, 153
    else:
        sizes, alone, part = [len(c.encode("utf-16-le")) // 2 for c in text], 70, 67
    if sum(sizes) <= alone:
        return 1
    parts, filled = 1, 0
    for size in sizes:
        if filled + size > part:
            parts, filled = parts + 1, 0
        filled += size
    return parts


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"  # the activity was cancelled before it was sent
    SUPPRESSED = "suppressed"  # the address unsubscribed, bounced or complained: not mailed
    BOUNCED = "bounced"  # accepted, then reported undeliverable for good
    HELD = "held"  # a survey e-mail waiting for its event's survey to open


class SendStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its time
    SENDING = "sending"  # deliveries being written and sent
    COMPLETED = "completed"  # none pending: every delivery sent, failed or suppressed
    CANCELLED = "cancelled"


class LawfulBasis(StrEnum):
    """What an audience is sent on (GDPR art. 6(1)): its contacts' consent to the channel, or
    the authority's public task, (e), which public bodies mostly inform on — then no consent
    is asked, and an unsubscribe (an objection, art. 21) still takes the address off."""

    CONSENT = "consent"
    PUBLIC_TASK = "public_task"


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # a hard bounce
    COMPLAINED = "complained"  # marked as spam


def address_hash(email: str) -> str:
    """What suppressions are kept by: the same for any spelling of the address's case."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def sends_messages(activity: ActivityApproved) -> bool:
    return activity.kind is ActivityKind.COMMUNICATION and activity.channel in SENT_CHANNELS


def send_times(times: list[datetime], now: datetime, *, catch_up: bool = True) -> list[datetime]:
    """When to e-mail: at each of the activity's times (one, or each occurrence of a series)
    still to come; with `catch_up`, also at the latest time already past (sent now) — earlier
    issues are history. A contact who had an issue of the activity already gets no catch-up."""
    past = [t for t in times if t <= now][-1:] if catch_up else []
    return past + [t for t in times if t > now]


def next_attempt(now: datetime, attempts: int, base_seconds: float) -> datetime:
    """Exponential backoff with jitter, capped at one hour."""
    return now + timedelta(seconds=backoff_delay(attempts, base=base_seconds, cap=3600.0))


@dataclass(frozen=True)
class Failure:
    """A failed attempt: the server's own words (`detail`, which may name the address: kept in
    this database only, for those who may see contacts) and the `reason` fit to leave it.
    `permanent`: a retry cannot mend it (a 5xx for this recipient or content)."""

    detail: str
    reason: str
    permanent: bool


@dataclass(frozen=True)
class Outcome:
    status: DeliveryStatus
    last_error: str | None = None
    next_attempt_at: datetime | None = None  # when still pending


def outcome(
    failure: Failure | None, attempts: int, now: datetime, *, max_attempts: int, base: float
) -> Outcome:
    """What an attempt leaves: sent; failed for good (a permanent refusal, or the attempts are
    used up: with the default, about three days of hourly retries); or pending again after a
    backoff, so a throttled (4xx) or unreachable server never drops anybody."""
    if failure is None:
        return Outcome(DeliveryStatus.SENT)
    if failure.permanent or attempts >= max_attempts:
        return Outcome(DeliveryStatus.FAILED, failure.detail)
    return Outcome(DeliveryStatus.PENDING, failure.detail, next_attempt(now, attempts, base))


def message_id(delivery_id: str) -> str:
    """The delivery's Message-ID, the same on every attempt: a resend after a crash can be
    recognised as a copy by the receiving side."""
    return f"<{delivery_id}@budskab>"


@dataclass(frozen=True)
class QuietHours:
    """Hours of the day, Danish time, in which no send goes out (e.g. 21:00–08:00, across
    midnight): its deliveries wait for the end, none is dropped. A person's own messages
    about an event (a confirmation, an offer) are not a send and go at any hour."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """ "21:00-08:00" (HH:MM-HH:MM)."""
        try:
            start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
        except ValueError:
            raise ValueError(
                f"quiet hours {text!r}: write them as HH:MM-HH:MM, e.g. 21:00-08:00"
            ) from None
        if start == end:
            raise ValueError(f"quiet hours {text!r}: the start and the end are the same")
        return cls(start, end)

    def holds(self, when: datetime) -> bool:
        local = when.astimezone(LOCAL_TIME).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight
