"""The events API's request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from services.events.domain import EventStatus, RegistrationStatus
from shared.contracts.vocabulary import EventFormat
from shared.errors import RuleViolation
from shared.schemas import ApiInput, ApiOutput, MailAddress, SingleLine
from shared.time import PlanDatetime

Language = Literal["da", "en"]
Title = Annotated[SingleLine, Field(min_length=1, max_length=300)]
Place = Annotated[SingleLine, Field(min_length=1, max_length=300)]
Capacity = Annotated[int, Field(ge=1, le=1_000_000)]

CONSENT = {
    "da": "Jeg giver samtykke til, at arrangøren behandler mit navn, min e-mailadresse og "
    "min organisation for at administrere min tilmelding til arrangementet. Oplysningerne "
    "slettes, når arrangementet er evalueret, og jeg kan til enhver tid framelde mig.",
    "en": "I consent to the organiser processing my name, e-mail address and organisation "
    "to manage my registration for the event. The data is deleted once the event has been "
    "evaluated, and I can cancel my registration at any time.",
}


RECEIVED = {
    "da": "Tak. Vi sender dig nu en e-mail med et link til din tilmelding: der kan du se, om "
    "du har fået en plads eller er på ventelisten, og finde din kode til indtjekning. Var "
    "adressen allerede tilmeldt, sender vi linket igen.",
    "en": "Thank you. We are sending you an e-mail with a link to your registration: there you "
    "can see whether you have a seat or a place on the waitlist, and find your check-in code. "
    "If the address was already registered, we send its link again.",
}


def consent_text(language: str) -> str:
    """The consent a registrant gives, recorded word for word with their registration."""
    return CONSENT[language]


def check_times(starts_at: datetime, ends_at: datetime | None) -> None:
    if ends_at is not None and ends_at <= starts_at:
        raise RuleViolation(
            "the event must end after it starts",
            errors=[{"field": "ends_at", "message": "must be after starts_at"}],
        )


class EventCreate(ApiInput):
    """An event an organiser sets up directly (one from a plan's approved activity comes by
    itself). It starts as a draft; publishing it opens registration."""

    title: Title
    description: str = Field("", max_length=10_000)
    format: EventFormat
    starts_at: PlanDatetime
    ends_at: PlanDatetime | None = None
    capacity: Capacity
    venue: Place | None = None
    address: Place | None = None
    accessibility: str | None = Field(None, max_length=2000)
    language: Language = "da"
    partners: list[Place] = Field(default_factory=list, max_length=20, description="Co-organisers.")
    invitation_only: bool = Field(False, description="Registration only through invitations.")

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventCreate:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class EventUpdate(ApiInput):
    """The fields to change; a published event that moves tells its registrants why."""

    title: Title | None = None
    description: str | None = Field(None, max_length=10_000)
    starts_at: PlanDatetime | None = None
    ends_at: PlanDatetime | None = None
    capacity: Capacity | None = None
    venue: Place | None = None
    address: Place | None = None
    accessibility: str | None = Field(None, max_length=2000)
    language: Language | None = None
    partners: list[Place] | None = Field(None, max_length=20)
    invitation_only: bool | None = None
    reason: str | None = Field(None, max_length=500, description="Why it moved, for registrants.")

    @model_validator(mode="after")
    def _required_stay_set(self) -> EventUpdate:
        for name in (
            "title",
            "description",
            "starts_at",
            "capacity",
            "language",
            "partners",
            "invitation_only",
        ):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be removed")
        return self


class EventCancel(ApiInput):
    reason: str = Field(min_length=1, max_length=500)


class SeatsPublic(ApiOutput):
    capacity: int
    confirmed: int
    held: int = Field(description="Seats offered to people from the waitlist, not yet accepted.")
    waiting: int
    free: int


class EventPublic(ApiOutput):
    id: str
    activity_id: str | None
    plan_id: str | None
    title: str
    description: str
    format: EventFormat
    starts_at: datetime
    ends_at: datetime | None
    capacity: int
    venue: str | None
    address: str | None
    accessibility: str | None
    language: str
    partners: list[str]
    invitation_only: bool
    status: EventStatus
    created_at: datetime
    seats: SeatsPublic | None = None


class RegistrationCreate(ApiInput):
    """A person's registration; `consent` must be true (the text given is recorded).
    `session_ids`: programme sessions with a cap that they sign up for as well."""

    name: Annotated[SingleLine, Field(min_length=1, max_length=200)]
    email: MailAddress = Field(max_length=320)
    organisation: Annotated[SingleLine, Field(max_length=200)] | None = None
    language: Language = "da"
    consent: Literal[True] = Field(description="Consent to the processing described.")
    session_ids: list[Annotated[str, Field(max_length=36)]] = Field(
        default_factory=list, max_length=20
    )


class RegistrationReceived(ApiOutput):
    """The answer to a registration: the same whether the address is new to the event or
    not. The outcome is in the e-mail sent to the address."""

    event_id: str
    message: str


class RegistrationPublic(ApiOutput):
    """A registration as its owner sees it through their personal link."""

    id: str
    event_id: str
    name: str
    status: RegistrationStatus
    language: str
    created_at: datetime
    hold_expires_at: datetime | None
    code: str = Field(description="The check-in code (the payload of the QR code).")
    token: str = Field(description="The personal link's token: view, cancel, accept an offer.")


class RegistrationRow(ApiOutput):
    """A registration in the organiser's list."""

    id: str
    name: str
    email: str
    organisation: str | None
    language: str
    status: RegistrationStatus
    position: int
    created_at: datetime
    consented_at: datetime
    hold_expires_at: datetime | None
    checked_in_at: datetime | None


class Scan(ApiInput):
    code: str = Field(min_length=1, max_length=64)
    scanned_at: PlanDatetime | None = Field(
        None, description="When a scan made offline happened; now if not given."
    )


class CheckIns(ApiInput):
    scans: list[Scan] = Field(min_length=1, max_length=1000)


class ScanResult(ApiOutput):
    code: str
    result: Literal["checked_in", "already_checked_in", "not_confirmed", "unknown"]
    name: str | None = None
    checked_in_at: datetime | None = None


class AttendeeQuery(ApiInput):
    """A person, by their e-mail address (in the body: an address in a URL ends up in logs)."""

    email: MailAddress


class AttendeeRecord(ApiOutput):
    """One registration as kept about a person: what an export shows them."""

    registration_id: str
    event_id: str
    event_title: str
    event_starts_at: datetime
    name: str
    email: str
    organisation: str | None
    language: str
    status: RegistrationStatus
    consent_text: str
    consented_at: datetime
    created_at: datetime
    checked_in_at: datetime | None


class Erased(ApiOutput):
    registrations: int = Field(description="Registrations whose personal data was erased.")


class PersonOnStage(ApiInput):
    name: Annotated[SingleLine, Field(min_length=1, max_length=200)]
    role: Literal["speaker", "panellist", "moderator"] = "speaker"
    bio: str = Field("", max_length=1000)


class SessionCreate(ApiInput):
    """A slot of the programme; `capacity` caps how many may sign up for it (none: open to
    everyone registered)."""

    title: Title
    description: str = Field("", max_length=5000)
    kind: Literal["plenary", "talk", "panel", "workshop", "debate", "break"] = "talk"
    starts_at: PlanDatetime
    ends_at: PlanDatetime
    room: Place | None = None
    capacity: Capacity | None = None
    people: list[PersonOnStage] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _ends_after_start(self) -> SessionCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class PersonPublic(ApiOutput):
    name: str
    role: str
    bio: str


class SessionPublic(ApiOutput):
    id: str
    title: str
    description: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    room: str | None
    capacity: int | None
    signed_up: int
    people: list[PersonPublic]


class Invitee(ApiInput):
    name: Annotated[SingleLine, Field(min_length=1, max_length=200)]
    email: MailAddress = Field(max_length=320)
    language: Language = "da"


class InvitationsCreate(ApiInput):
    people: list[Invitee] = Field(min_length=1, max_length=1000)


class InvitationRow(ApiOutput):
    id: str
    name: str
    email: str
    language: str
    answer: Literal["yes", "no", "maybe"] | None
    answered_at: datetime | None
    registration_id: str | None
    created_at: datetime


class Rsvp(ApiInput):
    """The invited person's answer; yes needs their consent, as a registration does."""

    answer: Literal["yes", "no", "maybe"]
    consent: bool = Field(False, validate_default=True)  # checked against the answer
    organisation: Annotated[SingleLine, Field(max_length=200)] | None = None
    session_ids: list[Annotated[str, Field(max_length=36)]] = Field(
        default_factory=list, max_length=20
    )

    @field_validator("consent")
    @classmethod
    def _yes_needs_consent(cls, consent: bool, info: ValidationInfo) -> bool:
        if info.data.get("answer") == "yes" and not consent:
            raise ValueError("an answer of yes registers you, which needs your consent")
        return consent


class AudienceInvitation(ApiInput):
    audience_id: str = Field(min_length=1, max_length=36, description="Planning's audience.")
