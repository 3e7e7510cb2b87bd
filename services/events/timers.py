"""Durable timers of the events service, on the runtime's clock (tests move it).

- Offers from the waitlist that were not accepted in time pass on to the next in line.
  Nothing depends on this for correctness — an expired offer stops holding its seat the
  moment it expires, in every count — but without it the line would move only at the next
  registration or cancellation.
- Reminders (by default 7 days and 1 day before) go to everyone with a seat; the day after
  the event, a survey request goes to everyone who checked in.

The due times live in the database (offers' expiry, `event_timers`), so they survive
restarts; with several replicas each row is claimed by one (SKIP LOCKED on PostgreSQL, the
write lock on SQLite), and a timer is marked fired in the transaction that publishes its
messages: each goes out once.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from services.events.domain import EventStatus, RegistrationStatus
from services.events.policy import Policy
from services.events.seats import pass_on_seats
from services.events.settings import EventsSettings
from services.events.tables import Event, EventTimer, Registration
from shared.contracts.events import ReminderDue, SurveyRequested
from shared.metrics import TIMERS_DUE, TIMERS_FIRED
from shared.runtime import Runtime

BATCH = 50  # events (or timers) per transaction
# messages per transaction: a reminder to a big event's every attendee goes out in rounds,
# between which the event loop and SQLite's write lock are free
MESSAGES_PER_ROUND = 1000


async def pass_on_expired_offers(runtime: Runtime[EventsSettings]) -> int:
    """Pass on the expired offers of up to BATCH events; how many events had some."""
    policy = Policy.of(runtime.settings)
    async with runtime.uow() as uow:
        expired = select(Registration.event_id).where(
            Registration.status == RegistrationStatus.OFFERED,
            Registration.hold_expires_at <= uow.now(),
        )
        events = (
            await uow.session.scalars(
                select(Event)
                .where(Event.id.in_(expired))
                .order_by(Event.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for event in events:
            await pass_on_seats(uow, event, policy)
        await uow.commit()
    return len(events)


async def fire_due_messages(runtime: Runtime[EventsSettings]) -> int:
    """Publish the reminders and survey requests whose time has come, at most
    MESSAGES_PER_ROUND of them; how many timers were worked on (fired, or moved on)."""
    policy = Policy.of(runtime.settings)
    async with runtime.uow() as uow:
        now = uow.now()
        due = (
            await uow.session.execute(
                select(EventTimer, Event)
                .join(Event, Event.id == EventTimer.event_id)
                .where(EventTimer.fired_at.is_(None), EventTimer.due_at <= now)
                .order_by(EventTimer.due_at)
                .limit(BATCH)
                .with_for_update(skip_locked=True, of=EventTimer)
            )
        ).all()
        room, worked = MESSAGES_PER_ROUND, 0
        for timer, event in due:
            if room == 0:
                break
            worked += 1
            survey = timer.kind == "survey"
            if event.status not in (
                (EventStatus.PUBLISHED, EventStatus.COMPLETED)
                if survey
                else (EventStatus.PUBLISHED,)
            ) or not (survey or _in_time(timer.kind, event, now)):
                timer.fired_at = now
                continue
            who = (
                Registration.checked_in_at.is_not(None) if survey else Registration.id.is_not(None)
            )
            registrations = (
                await uow.session.scalars(
                    select(Registration)
                    .where(
                        Registration.event_id == event.id,
                        Registration.status == RegistrationStatus.CONFIRMED,
                        Registration.position > (timer.sent_through or 0),  # from 1
                        who,
                    )
                    .order_by(Registration.position)
                    .limit(room)
                )
            ).all()
            for registration in registrations:
                about = policy.about(registration, event)
                if survey:
                    uow.publish(SurveyRequested(**about), subject=event.id)
                else:
                    days = int(timer.kind.split(":")[1])
                    uow.publish(ReminderDue(**about, days_before=days), subject=event.id)
            if len(registrations) < room:
                timer.fired_at = now
            else:  # there may be more: the next round goes on after the last one
                timer.sent_through = registrations[-1].position
            room -= len(registrations)
        await uow.commit()
        waiting = await uow.session.scalar(
            select(func.count())
            .select_from(EventTimer)
            .where(EventTimer.fired_at.is_(None), EventTimer.due_at <= now)
        )
    TIMERS_FIRED.inc(sum(1 for timer, _ in due if timer.fired_at is not None))
    TIMERS_DUE.set(waiting or 0)
    return worked


def _in_time(kind: str, event: Event, now: datetime) -> bool:
    """A reminder still makes sense until the next one's day: after a move, or a pause of
    the service, a "7 days before" is not sent the day before."""
    days = int(kind.split(":")[1])
    return event.starts_at - now > timedelta(days=max(0, days - 1))


async def run_timers(runtime: Runtime[EventsSettings]) -> None:
    while True:
        busy = await pass_on_expired_offers(runtime) == BATCH
        busy = await fire_due_messages(runtime) > 0 or busy
        if not busy:  # a full batch: more may be waiting
            await asyncio.sleep(runtime.settings.timer_interval_seconds)
