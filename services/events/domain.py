"""Event rules in plain Python: the lifecycle, and who gets a seat.

Seats are counted, never stored as a number that a crash or a forgotten sweep can leave
wrong (pretix's quotas, and Attendize's reservations stuck for good, are the lessons): a
seat is taken by a confirmed registration, or held by an offer to someone from the
waitlist until the offer expires. An expired offer stops counting the moment it expires,
whether or not anything has tidied it up yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.contracts.planning import ActivityApproved
from shared.contracts.vocabulary import ActivityKind
from shared.errors import Conflict


class EventStatus(StrEnum):
    DRAFT = "draft"  # being prepared; not visible to the public
    PUBLISHED = "published"  # announced; takes registrations
    COMPLETED = "completed"  # held
    CANCELLED = "cancelled"


# command → (the statuses it may start from, where it leads)
LIFECYCLE: dict[str, tuple[frozenset[EventStatus], EventStatus]] = {
    "publish": (frozenset({EventStatus.DRAFT}), EventStatus.PUBLISHED),
    "complete": (frozenset({EventStatus.PUBLISHED}), EventStatus.COMPLETED),
    "cancel": (frozenset({EventStatus.DRAFT, EventStatus.PUBLISHED}), EventStatus.CANCELLED),
}


def next_status(
    current: str, command: str, starts_at: datetime | None = None, now: datetime | None = None
) -> EventStatus:
    """The status `command` leads to from `current`, or a conflict that says why not. An
    event is completed once it has started, not before."""
    allowed, target = LIFECYCLE[command]
    if current not in allowed:
        raise Conflict(f"a {current} event cannot be {target}")
    if target == EventStatus.COMPLETED and starts_at and now and now < starts_at:
        raise Conflict("an event is completed once it has taken place, not before it starts")
    return target


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"  # has a seat
    WAITLISTED = "waitlisted"  # in line for a seat
    OFFERED = "offered"  # a seat is held for them until the offer expires
    EXPIRED = "expired"  # did not accept an offer in time; out of line
    CANCELLED = "cancelled"


ACTIVE = frozenset(
    {RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.OFFERED}
)


@dataclass(frozen=True)
class Seats:
    """An event's seats at one moment, counted from its registrations."""

    capacity: int
    confirmed: int
    held: int  # offers that have not expired
    waiting: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.confirmed - self.held)

    def place(self) -> RegistrationStatus:
        return place(self.free, self.waiting > 0)

    def offers_due(self) -> int:
        """How many from the front of the waitlist get a seat offered now."""
        return min(self.free, self.waiting)


def place(free: int, anyone_waiting: bool) -> RegistrationStatus:
    """A new registration gets a free seat only if nobody is waiting for one: the line is
    served first, in order."""
    if free > 0 and not anyone_waiting:
        return RegistrationStatus.CONFIRMED
    return RegistrationStatus.WAITLISTED


def offer_expired(status: str, hold_expires_at: datetime | None, now: datetime) -> bool:
    return (
        status == RegistrationStatus.OFFERED
        and hold_expires_at is not None
        and (hold_expires_at <= now)
    )


def can_accept(
    event_status: str, status: str, hold_expires_at: datetime | None, now: datetime
) -> None:
    """An offer is accepted while it holds and the event is on; afterwards the seat has
    passed on."""
    if status == RegistrationStatus.CONFIRMED:
        return  # accepting twice is accepting once
    if event_status != EventStatus.PUBLISHED:
        raise Conflict(f"the event is {event_status}: no seat can be taken")
    if status != RegistrationStatus.OFFERED:
        raise Conflict(f"there is no seat offered to a {status} registration")
    if offer_expired(status, hold_expires_at, now):
        raise Conflict("the offer has expired and the seat has passed on")


def takes_registrations(status: str, starts_at: datetime, now: datetime) -> None:
    if status != EventStatus.PUBLISHED:
        raise Conflict(f"the event is {status}: it takes no registrations")
    if starts_at <= now:
        raise Conflict("the event has started: registration is closed")


def becomes_event(activity: ActivityApproved) -> bool:
    """Only event-kind activities with event details become events here."""
    return activity.kind is ActivityKind.EVENT and activity.event is not None
