"""What the events service's commands need from the service's settings: how long an offered seat is
held, when reminders go out, and how to address a person (their signed personal link) in
the events that become their e-mails."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from services.events.links import Links
from services.events.settings import EventsSettings
from services.events.tables import Event, Invitation, Registration
from shared.contracts.events import Attendee, EventSummary
from shared.time import LOCAL_TIME

SURVEY_TIME = time(9)  # the survey request goes out at 09:00 the day after the event


@dataclass(frozen=True)
class Policy:
    links: Links
    public_url: str
    offer_hold: timedelta
    reminder_days: tuple[int, ...]

    @classmethod
    def of(cls, settings: EventsSettings) -> Policy:
        return cls(
            links=Links(settings.link_key),
            public_url=settings.public_url.rstrip("/"),
            offer_hold=timedelta(hours=settings.offer_hold_hours),
            reminder_days=tuple(sorted(set(settings.reminder_days), reverse=True)),
        )

    def personal_link(self, registration: Registration) -> str:
        token = self.links.token(registration.id)
        return f"{self.public_url}/registrations/{token}?lang={registration.language}"

    def invitation(self, invitation: Invitation, event: Event) -> dict:
        """The fields of `attendee.invited.v1`: whom to invite, and their link to answer."""
        token = self.links.invitation_token(invitation.id)
        return {
            "invitation_id": invitation.id,
            "event_id": event.id,
            "plan_id": event.plan_id,
            "attendee": Attendee(
                name=invitation.name,
                email=invitation.email,
                language=invitation.language,
                link=f"{self.public_url}/invitations/{token}?lang={invitation.language}",
            ),
            "event": self.summary(event),
        }

    def summary(self, event: Event) -> EventSummary:
        return EventSummary(
            title=event.title,
            starts_at=event.starts_at,
            ends_at=event.ends_at,
            venue=event.venue,
            address=event.address,
            link=f"{self.public_url}/events/{event.id}",
        )

    def about(self, registration: Registration, event: Event) -> dict:
        """The fields every registration event carries: ids, and whom to tell about what."""
        attendee = None
        if registration.erased_at is None:
            attendee = Attendee(
                name=registration.name,
                email=registration.email,
                language=registration.language,
                link=self.personal_link(registration),
            )
        return {
            "registration_id": registration.id,
            "event_id": event.id,
            "plan_id": event.plan_id,
            "attendee": attendee,
            "event": self.summary(event),
        }

    def timers(self, event: Event) -> dict[str, datetime]:
        """When each of the event's messages falls due: the reminders, then the survey."""
        due = {
            f"reminder:{days}": event.starts_at - timedelta(days=days)
            for days in self.reminder_days
        }
        ended = (event.ends_at or event.starts_at).astimezone(LOCAL_TIME)
        next_day = datetime.combine(ended.date() + timedelta(days=1), SURVEY_TIME, LOCAL_TIME)
        due["survey"] = next_day
        return due
