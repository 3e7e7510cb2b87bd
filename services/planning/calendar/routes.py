"""The calendar across plans, as JSON and as an iCalendar feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from icalendar import Calendar, Event

from services.planning.calendar import queries, schemas
from shared.auth import CurrentPrincipal
from shared.contracts.vocabulary import ChannelKind
from shared.http import Now, UnitOfWorkDep
from shared.time import PlanDatetime

router = APIRouter(prefix="/v1/calendar", tags=["calendar"])


async def _entries(
    uow: UnitOfWorkDep,
    _: CurrentPrincipal,
    starts_from: PlanDatetime | None = None,
    starts_before: PlanDatetime | None = None,
    plan_id: str | None = None,
    audience_id: str | None = None,
    channel: ChannelKind | None = None,
    track_id: Annotated[
        str | None, Query(description="A strategy node: plans linked to it or below it.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[schemas.CalendarEntry]:
    async with uow:
        return await queries.calendar(
            uow.session,
            starts_from=starts_from,
            starts_before=starts_before,
            plan_id=plan_id,
            audience_id=audience_id,
            channel=channel,
            track_id=track_id,
            limit=limit,
        )


Entries = Annotated[list[schemas.CalendarEntry], Depends(_entries)]


@router.get("", response_model=list[schemas.CalendarEntry])
async def calendar_json(entries: Entries) -> list[schemas.CalendarEntry]:
    """Activities across plans, by time (every occurrence of a recurring one); filter by
    period, plan, audience, channel and strategy track."""
    return entries


@router.get(".ics", response_class=Response, responses={200: {"content": {"text/calendar": {}}}})
async def calendar_ical(entries: Entries, now: Now) -> Response:
    """The same activities as an iCalendar (RFC 5545) feed for calendar programs."""
    return Response(to_ical(entries, now), media_type="text/calendar; charset=utf-8")


def to_ical(entries: list[schemas.CalendarEntry], generated: datetime) -> bytes:
    feed = Calendar()
    feed.add("prodid", "-//Budskab//planning calendar//DA")
    feed.add("version", "2.0")
    for entry in entries:
        item = Event()
        occurrence = f"-{entry.starts_at:%Y%m%dT%H%M%SZ}" if entry.recurring else ""
        item.add("uid", f"{entry.activity_id}{occurrence}@budskab")
        item.add("dtstamp", generated)
        item.add("dtstart", entry.starts_at)
        item.add("summary", entry.title)
        details = [f"Plan: {entry.plan_title} ({entry.plan_status})"]
        details += [f"Audience: {entry.audience}"] if entry.audience else []
        details += [f"Channel: {entry.channel}"] if entry.channel else []
        item.add("description", "\n".join(details))
        item.add("categories", [entry.kind])
        feed.add_component(item)
    return feed.to_ical()
