"""Events as people read them: a time in Danish local time, in words, and an iCalendar file
(RFC 5545) for their calendar program — the same on the public pages and in e-mails."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from shared.time import LOCAL_TIME

DEFAULT_LENGTH = timedelta(hours=3)  # a calendar entry for an event without an end time


def spoken_time(when: datetime, language: str) -> str:
    """20.01.2016 kl. 09:00, or 20 January 2016 at 09:00 — in Danish time."""
    local = when.astimezone(LOCAL_TIME)
    return local.strftime("%d.%m.%Y kl. %H:%M" if language == "da" else "%d %B %Y at %H:%M")


def event_entry(
    *,
    event_id: str,
    title: str,
    starts_at: datetime,
    ends_at: datetime | None,
    places: tuple[str | None, ...],
    url: str,
    stamp: datetime,
    description: str = "",
    cancelled: bool = False,
) -> CalendarEvent:
    """One event; the same uid everywhere, so a calendar updates it instead of adding it."""
    entry = CalendarEvent()
    entry.add("uid", f"{event_id}@budskab")
    entry.add("dtstamp", stamp)
    entry.add("dtstart", starts_at.astimezone(LOCAL_TIME))
    entry.add("dtend", (ends_at or starts_at + DEFAULT_LENGTH).astimezone(LOCAL_TIME))
    entry.add("summary", title)
    if description:
        entry.add("description", description)
    location = ", ".join(place for place in places if place)
    if location:
        entry.add("location", location)
    entry.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    entry.add("url", url)
    return entry


def calendar_file(entries: list[CalendarEvent], product: str) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", f"-//Budskab//{product}//DA")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-timezone", "Europe/Copenhagen")
    for entry in entries:
        calendar.add_component(entry)
    calendar.add_missing_timezones()
    return calendar.to_ical()
