"""The plan aggregate: a plan and its parts (`parts`), with every rule of changing them.

Each change is a method here, given an `Edit` (who, when, and for an approved plan why and who
agreed). It checks the rules (`domain`), moves the plan to its next version, records a
deviation when the plan is already approved, and collects the contract events it causes
(`events`). When the unit of work commits, the repository keeps the new version in the plan's
history and moves the events into the outbox. Nothing here touches the database, so the rules
are tested on plans built in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.planning import domain
from services.planning.plans import events
from services.planning.plans.parts import (
    Activity,
    Channel,
    Deviation,
    Goal,
    Message,
    PlanAudience,
    Schedule,
)
from services.planning.recurrence import next_occurrence
from services.planning.tables import Audience, Base, Partner
from shared.contracts import EventData
from shared.contracts.planning import PlanActivated, PlanClosed
from shared.db import UtcDateTime
from shared.errors import Conflict, NotFound, PreconditionFailed, RuleViolation
from shared.ids import new_id


@dataclass(frozen=True)
class Edit:
    """Who changes a plan and when; changing an approved plan (a deviation) also needs why,
    and who in management agreed."""

    by: str
    at: datetime
    reason: str | None = None
    agreed_by: str | None = None


@dataclass(frozen=True)
class VersionChange:
    """What a change did, and who made it: the plan's history keeps it with the new version."""

    change: str
    by: str


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_by: Mapped[str | None] = mapped_column(String(200))  # since 2026-12: else null
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    track_id: Mapped[str | None] = mapped_column(ForeignKey("strategy_nodes.id"), index=True)
    period_start: Mapped[date | None] = mapped_column(Date)
    period_end: Mapped[date | None] = mapped_column(Date)

    goals: Mapped[list[Goal]] = relationship(order_by="Goal.position")
    audience_links: Mapped[list[PlanAudience]] = relationship(order_by="PlanAudience.position")
    messages: Mapped[list[Message]] = relationship(order_by="Message.position")
    channels: Mapped[list[Channel]] = relationship(order_by="Channel.position")
    activities: Mapped[list[Activity]] = relationship(order_by="Activity.position")
    deviations: Mapped[list[Deviation]] = relationship(order_by="Deviation.recorded_at")

    @classmethod
    def create(cls, fields: dict, edit: Edit) -> Plan:
        """A new draft at version 1 (`fields`: title, owner, sender, track_id, period)."""
        domain.check_period(fields.get("period_start"), fields.get("period_end"))
        plan = cls(
            id=new_id(),
            status=domain.PlanStatus.DRAFT,
            version=1,
            created_at=edit.at,
            updated_at=edit.at,
            **fields,
        )
        # empty, not unloaded: a new plan's parts are never read from the database
        plan.goals, plan.audience_links, plan.messages = [], [], []
        plan.channels, plan.activities, plan.deviations = [], [], []
        plan._changed("created", edit)
        return plan

    # --- what it holds ----------------------------------------------------------------------

    @property
    def audiences(self) -> list[Audience]:
        return [link.audience for link in self.audience_links]

    @property
    def live_activities(self) -> list[Activity]:
        """The activities that are not cancelled."""
        return [a for a in self.activities if a.cancelled_at is None]

    def check_version(self, expected: frozenset[int] | None) -> None:
        """A change is made to the version its maker saw (If-Match; None: any)."""
        if expected is not None and self.version not in expected:
            seen = " or ".join(str(v) for v in sorted(expected))
            raise PreconditionFailed(
                f"the plan is at version {self.version}, not {seen}: reload and retry"
            )

    def activity(self, activity_id: str) -> Activity:
        found = next((a for a in self.activities if a.id == activity_id), None)
        if found is None:
            raise NotFound(f"the plan has no activity {activity_id}")
        return found

    def activity_to_change(self, activity_id: str) -> Activity:
        """One of its activities, which must not be cancelled."""
        activity = self.activity(activity_id)
        domain.check_not_cancelled(activity.cancelled_at is not None)
        return activity

    # --- what its changes leave for the unit of work ---------------------------------------

    @property
    def events(self) -> list[tuple[EventData, str]]:
        """The events its changes caused, each with its subject, not yet in the outbox.
        (Not mapped: a plan read from the database starts without any.)"""
        return self.__dict__.setdefault("_events", [])

    @property
    def change(self) -> VersionChange | None:
        """Its latest change, not yet kept in its history."""
        return self.__dict__.get("_change")

    def take_change(self) -> tuple[VersionChange | None, list[tuple[EventData, str]]]:
        """The change to keep and the events to publish; the plan forgets both."""
        taken = self.change, list(self.events)
        self.__dict__["_change"], self.__dict__["_events"] = None, []
        return taken

    # --- its own fields and status ----------------------------------------------------------

    def update(self, given: dict, edit: Edit) -> None:
        """Change its own fields (title, owner, sender, track, period); the caller has checked
        that a new track exists."""
        changes = {k: v for k, v in given.items() if getattr(self, k) != v}
        if not changes:
            raise RuleViolation("nothing to change: the plan already has these values")
        domain.check_period(
            changes.get("period_start", self.period_start),
            changes.get("period_end", self.period_end),
        )
        deviation = self._deviation_needed(edit)
        before = _describe({k: getattr(self, k) for k in changes})
        self._next_version(edit)
        for name, value in changes.items():
            setattr(self, name, value)
        if deviation:
            self._record_deviation(
                domain.Change.PLAN_UPDATED, edit, before=before, after=_describe(changes)
            )
        self._changed(f"updated {_describe(changes)}", edit, revised=deviation)

    def submit(self, edit: Edit) -> None:
        self.status = domain.submit(domain.PlanStatus(self.status))
        self._next_version(edit)
        self.submitted_by = edit.by
        self._publish(events.plan_submitted(self, edit))
        self._changed(f"status: {self.status}", edit)

    def approve(self, edit: Edit, *, four_eyes: bool = False) -> None:
        """Approval needs goals and complete activities; every activity goes out with it.
        With `four_eyes`, a plan is approved only from review, by someone other than who
        submitted it."""
        if four_eyes:
            domain.check_four_eyes(domain.PlanStatus(self.status), self.submitted_by, edit.by)
        drafts = [a.draft for a in self.live_activities]
        domain.check_approvable(domain.PlanStatus(self.status), len(self.goals), drafts)
        self._next_version(edit)
        self.status = domain.PlanStatus.APPROVED
        self.approved_by, self.approved_at = edit.by, edit.at
        self._publish(events.plan_approved(self))
        for activity in self.live_activities:
            self._publish(events.activity_approved(self, activity), subject=activity.id)
        self._changed("approved", edit)

    def activate(self, edit: Edit) -> None:
        """An approved plan of which an activity fell due is being carried out."""
        if self.status != domain.PlanStatus.APPROVED:
            raise Conflict(f"only an approved plan becomes active; the plan is {self.status}")
        self._next_version(edit)
        self.status = domain.PlanStatus.ACTIVE
        self._publish(PlanActivated(plan_id=self.id, version=self.version, activated_at=edit.at))
        self._changed("status: active (an activity fell due)", edit)

    def close(self, edit: Edit) -> None:
        self.status = domain.close(domain.PlanStatus(self.status))
        self._next_version(edit)
        self._publish(PlanClosed(plan_id=self.id, closed_by=edit.by, closed_at=edit.at))
        self._changed(f"status: {self.status}", edit)

    # --- its parts --------------------------------------------------------------------------

    def add_goal(self, fields: dict, edit: Edit) -> Goal:
        goal = Goal(id=new_id(), plan_id=self.id, position=len(self.goals), **fields)
        self._add_part(
            self.goals,
            goal,
            domain.Change.GOAL_ADDED,
            edit,
            f"goal added: {goal.description}",
            after=goal.metric,
        )
        return goal

    def add_audience(self, audience: Audience, edit: Edit) -> None:
        """Reach an audience of the organisation (one it already has, or a new one)."""
        if any(a.id == audience.id for a in self.audiences):
            raise Conflict(f"the plan already reaches {audience.name}")
        link = PlanAudience(
            plan_id=self.id,
            audience_id=audience.id,
            audience=audience,
            position=len(self.audience_links),
        )
        self._add_part(
            self.audience_links,
            link,
            domain.Change.AUDIENCE_ADDED,
            edit,
            f"audience added: {audience.name}",
            after=audience.name,
        )

    def add_message(self, fields: dict, edit: Edit, *, lix_threshold: float) -> Message:
        """A message for one of its audiences; to citizens it should read easily (LIX)."""
        _require_part(self.audiences, fields["audience_id"], "audience_id")
        audience = next(a for a in self.audiences if a.id == fields["audience_id"])
        score = domain.lix(fields["body"])
        warning = domain.readability_warning(
            domain.AudienceKind(audience.kind), score, lix_threshold
        )
        message = Message(
            id=new_id(),
            plan_id=self.id,
            position=len(self.messages),
            **fields,
            lix=score,
            readability_warning=warning,
        )
        self._add_part(
            self.messages,
            message,
            domain.Change.MESSAGE_ADDED,
            edit,
            f"message added: {message.subject}",
            after=message.subject,
        )
        return message

    def add_channel(self, fields: dict, edit: Edit) -> Channel:
        channel = Channel(id=new_id(), plan_id=self.id, position=len(self.channels), **fields)
        self._add_part(
            self.channels,
            channel,
            domain.Change.CHANNEL_ADDED,
            edit,
            f"channel added: {channel.name}",
            after=channel.name,
        )
        return channel

    def add_activity(
        self, fields: dict, schedule: Schedule, partners: list[Partner], edit: Edit
    ) -> Activity:
        """Add an activity (`fields`: title, kind, owner, audience, message and channel ids,
        event details). On an approved plan it is a deviation, and it must be complete: it goes
        out at once, like those approved with the plan."""
        for field, parts in (
            ("audience_id", self.audiences),
            ("message_id", self.messages),
            ("channel_id", self.channels),
        ):
            _require_part(parts, fields.get(field), field)
        if fields.get("message_id") is not None:
            message = next(m for m in self.messages if m.id == fields["message_id"])
            domain.check_message_fits_audience(message.audience_id, fields.get("audience_id"))
            if fields.get("channel_id") is not None:
                channel = next(c for c in self.channels if c.id == fields["channel_id"])
                domain.check_message_fits_channel(message.body, channel.kind)
        activity = Activity.new(new_id(), self.id, len(self.activities), fields, schedule, partners)
        deviation = domain.is_deviation(domain.PlanStatus(self.status))
        if deviation:
            domain.check_activity_complete(activity.draft)
            domain.check_deviation(edit.reason, edit.agreed_by)
        self._next_version(edit)
        self.activities.append(activity)
        if deviation:
            self._record_deviation(
                domain.Change.ACTIVITY_ADDED,
                edit,
                activity=activity,
                after=schedule.starts_at.isoformat(),
            )
        self._changed(f"activity added: {activity.title}", edit, revised=deviation)
        if deviation:
            self._publish(events.activity_approved(self, activity), subject=activity.id)
        return activity

    def reschedule(self, activity_id: str, schedule: Schedule, edit: Edit) -> Activity:
        """Move an activity (a recurring one: its series, `schedule` being its new one)."""
        activity = self.activity_to_change(activity_id)
        before = activity.starts_at
        if schedule.starts_at == before:
            raise RuleViolation(
                "nothing to change: the activity is at that time already",
                errors=[{"field": "starts_at", "message": "the activity's time already"}],
            )
        deviation = self._deviation_needed(edit)
        self._next_version(edit)
        activity.schedule(schedule)
        # not fired yet: due at its new time; fired already: again only what lies ahead
        activity.next_due_at = (
            schedule.starts_at
            if activity.due_fired_at is None
            else next_occurrence(activity.times, edit.at)
        )
        moved = f"{before.isoformat()} → {schedule.starts_at.isoformat()}"
        if deviation:
            self._record_deviation(
                domain.Change.RESCHEDULED,
                edit,
                activity=activity,
                before=before.isoformat(),
                after=schedule.starts_at.isoformat(),
            )
            rescheduled = events.activity_rescheduled(activity, before, edit.reason)
            self._publish(rescheduled, subject=activity.id)
        self._changed(f"activity rescheduled: {activity.title} {moved}", edit, revised=deviation)
        return activity

    def cancel(self, activity_id: str, edit: Edit) -> Activity:
        activity = self.activity_to_change(activity_id)
        deviation = self._deviation_needed(edit)
        self._next_version(edit)
        if deviation:
            self._record_deviation(
                domain.Change.CANCELLED,
                edit,
                activity=activity,
                before=activity.starts_at.isoformat(),
                after="cancelled",
            )
            self._publish(events.activity_cancelled(activity, edit.reason), subject=activity.id)
        activity.cancelled_at = edit.at
        activity.next_due_at = None
        self._changed(f"activity cancelled: {activity.title}", edit, revised=deviation)
        return activity

    # --- how every change is made -----------------------------------------------------------

    def _next_version(self, edit: Edit) -> None:
        """Every change gets its own version (and so its own ETag)."""
        self.version += 1
        self.updated_at = edit.at

    def _deviation_needed(self, edit: Edit) -> bool:
        """Changing a draft is planning; changing an approved plan is a deviation, which needs
        a reason and who agreed. A closed plan does not change."""
        if not domain.is_deviation(domain.PlanStatus(self.status)):
            return False
        domain.check_deviation(edit.reason, edit.agreed_by)
        return True

    def _add_part(
        self, parts: list, part: object, kind: domain.Change, edit: Edit, change: str, after: str
    ) -> None:
        deviation = self._deviation_needed(edit)
        self._next_version(edit)
        parts.append(part)
        if deviation:
            self._record_deviation(kind, edit, after=after)
        self._changed(change, edit, revised=deviation)

    def _record_deviation(
        self,
        kind: domain.Change,
        edit: Edit,
        *,
        activity: Activity | None = None,
        before: str = "",
        after: str = "",
    ) -> None:
        """Keep the deviation with the plan; one that concerns an activity is also published
        on its own (the plan's revision tells of the others)."""
        assert edit.reason is not None and edit.agreed_by is not None
        deviation = Deviation(
            id=new_id(),
            plan_id=self.id,
            activity_id=activity.id if activity else None,
            change=kind,
            before=before,
            after=after,
            reason=edit.reason,
            agreed_by=edit.agreed_by,
            recorded_by=edit.by,
            recorded_at=edit.at,
        )
        self.deviations.append(deviation)
        if activity is not None:
            self._publish(events.deviation_recorded(deviation))

    def _changed(self, change: str, edit: Edit, *, revised: bool = False) -> None:
        """Note the change for the plan's history; a deviation also tells subscribers that
        the approved plan was revised."""
        self.__dict__["_change"] = VersionChange(change, edit.by)
        if revised:
            self._publish(events.plan_revised(self, change, edit))

    def _publish(self, data: EventData, *, subject: str | None = None) -> None:
        self.events.append((data, subject or self.id))


def _require_part(parts: list, part_id: str | None, field: str) -> None:
    if part_id is not None and part_id not in {p.id for p in parts}:
        raise RuleViolation(
            f"{field} {part_id} is not part of this plan",
            errors=[{"field": field, "message": "not part of this plan"}],
        )


def _describe(fields: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in fields.items())
