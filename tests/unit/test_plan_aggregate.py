"""The plan aggregate, in memory: each change's rules, versions, deviations and events.

The plan is case A of DOMAIN.md: Aarhus Kommune's launch of "Kommune forfra", with its op-ed
and "Velfærdens innovationsdag" (a round table for municipal directors, January 2016).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.planning.domain import Change, PlanStatus
from services.planning.plans.model import Edit, Plan
from services.planning.plans.parts import Activity, Schedule
from services.planning.tables import Audience, Partner
from shared.contracts.planning import (
    ActivityApproved,
    ActivityCancelled,
    ActivityRescheduled,
    DeviationRecorded,
    PlanActivated,
    PlanApproved,
    PlanRevised,
    PlanSubmitted,
)
from shared.errors import Conflict, Forbidden, NotFound, PreconditionFailed, RuleViolation

NOW = datetime(2015, 8, 17, 9, tzinfo=UTC)  # Magistraten discusses the plan
PLANNER = "planner@aarhus.dk"
DRAFTING = Edit(PLANNER, NOW)
AGREED = Edit(PLANNER, NOW, reason="Mandag Morgen moved the day", agreed_by="Magistraten")
INNOVATION_DAY = datetime(2016, 1, 20, 8, tzinfo=UTC)


def directors() -> Audience:
    return Audience(
        id="aud-directors",
        name="Municipal directors",
        kind="politicians",
        needs="",
        preferred_channels=[],
        created_at=NOW,
    )


def citizens() -> Audience:
    return Audience(
        id="aud-citizens",
        name="Citizens",
        kind="citizens",
        needs="",
        preferred_channels=[],
        created_at=NOW,
    )


def draft() -> Plan:
    return Plan.create(
        {
            "title": "Kommune forfra",
            "owner": "Borgmesterens Afdeling",
            "sender": "Aarhus Kommune",
            "track_id": None,
            "period_start": None,
            "period_end": None,
        },
        DRAFTING,
    )


def round_table(plan: Plan, **overrides: object) -> dict:
    fields = {
        "title": "Velfærdens innovationsdag",
        "kind": "event",
        "owner": "Mandag Morgen",
        "audience_id": plan.audiences[0].id,
        "message_id": plan.messages[0].id,
        "channel_id": plan.channels[0].id,
        "event": {"format": "round_table", "capacity": 40, "venue": "Aarhus Rådhus"},
    }
    return {**fields, **overrides}


def complete_draft() -> Plan:
    """A draft with a goal, an audience, a message, a channel and the round table."""
    plan = draft()
    plan.add_goal(
        {
            "description": "Directors take part",
            "metric": "participants",
            "target": 40,
            "unit": "directors",
            "deadline": None,
        },
        DRAFTING,
    )
    plan.add_audience(directors(), DRAFTING)
    plan.add_message(
        {
            "audience_id": "aud-directors",
            "subject": "Rethink welfare with us",
            "body": "Come and rethink welfare.",
        },
        DRAFTING,
        lix_threshold=35,
    )
    plan.add_channel({"kind": "conference", "name": "Round table"}, DRAFTING)
    plan.add_activity(round_table(plan), Schedule(INNOVATION_DAY), [], DRAFTING)
    plan.take_change()
    return plan


def approved() -> Plan:
    plan = complete_draft()
    plan.approve(Edit("director@aarhus.dk", NOW))
    plan.take_change()
    return plan


def kinds(events: list) -> list[type]:
    return [type(data) for data, _subject in events]


def test_a_new_plan_is_a_draft_at_version_1_with_its_creation_to_keep() -> None:
    plan = draft()
    change, events = plan.take_change()
    assert (plan.status, plan.version) == (PlanStatus.DRAFT, 1)
    assert change is not None and (change.change, change.by) == ("created", PLANNER)
    assert events == []
    assert plan.take_change() == (None, [])  # taken once


def test_a_plan_cannot_end_before_it_starts() -> None:
    with pytest.raises(RuleViolation):
        Plan.create(
            {
                "title": "t",
                "owner": "o",
                "sender": "s",
                "track_id": None,
                "period_start": datetime(2017, 1, 1).date(),
                "period_end": datetime(2015, 1, 1).date(),
            },
            DRAFTING,
        )


def test_each_change_to_a_draft_is_a_version_without_deviation_or_event() -> None:
    plan = complete_draft()
    assert plan.version == 6  # created, goal, audience, message, channel, activity
    assert plan.deviations == [] and plan.events == []
    assert [a.title for a in plan.activities] == ["Velfærdens innovationsdag"]
    assert plan.updated_at == NOW


def test_a_message_to_citizens_above_the_lix_threshold_carries_a_warning() -> None:
    plan = draft()
    plan.add_audience(citizens(), DRAFTING)
    hard = (
        "Velfærdssamfundets udfordringer nødvendiggør gennemgribende nytænkning af organiseringen."
    )
    message = plan.add_message(
        {"audience_id": "aud-citizens", "subject": "s", "body": hard}, DRAFTING, lix_threshold=35
    )
    assert message.lix > 35 and message.readability_warning is not None


def test_a_part_must_belong_to_the_plan() -> None:
    plan = complete_draft()
    with pytest.raises(RuleViolation) as caught:
        plan.add_activity(
            round_table(plan, channel_id="elsewhere"), Schedule(INNOVATION_DAY), [], DRAFTING
        )
    assert caught.value.errors == [{"field": "channel_id", "message": "not part of this plan"}]
    assert plan.version == 6  # a refused change leaves no version behind


def test_an_activity_carries_only_a_message_written_for_its_audience() -> None:
    plan = complete_draft()
    plan.add_audience(citizens(), DRAFTING)
    with pytest.raises(RuleViolation, match="another audience"):
        plan.add_activity(
            round_table(plan, audience_id="aud-citizens"), Schedule(INNOVATION_DAY), [], DRAFTING
        )


def test_an_sms_activity_carries_only_a_message_that_fits_in_a_text() -> None:
    """A message over 612 characters cannot go as a text: refused when an SMS activity would
    carry it, not failed at each recipient's phone once approved."""
    plan = complete_draft()
    plan.add_channel({"kind": "sms", "name": "SMS til direktørerne"}, DRAFTING)
    sms = plan.channels[-1].id
    reminder = {"audience_id": "aud-directors", "subject": "Påmindelse"}
    plan.add_message(reminder | {"body": "Husk: i morgen kl. 9. " * 28}, DRAFTING, lix_threshold=35)
    too_long, version = plan.messages[-1], plan.version
    assert len(too_long.body) == 616
    with pytest.raises(RuleViolation, match="616 characters, an SMS carries at most 612") as caught:
        plan.add_activity(
            round_table(
                plan, kind="communication", message_id=too_long.id, channel_id=sms, event=None
            ),
            Schedule(INNOVATION_DAY),
            [],
            DRAFTING,
        )
    assert caught.value.errors == [{"field": "message_id", "message": "longer than 612 characters"}]
    assert (plan.version, len(plan.activities)) == (version, 1)  # nothing changed
    plan.add_message(reminder | {"body": "Husk: i morgen kl. 9. " * 27}, DRAFTING, lix_threshold=35)
    plan.add_activity(  # 594 characters fit, and the long one may go by e-mail
        round_table(
            plan, kind="communication", message_id=plan.messages[-1].id, channel_id=sms, event=None
        ),
        Schedule(INNOVATION_DAY),
        [],
        DRAFTING,
    )
    plan.add_activity(
        round_table(plan, kind="communication", message_id=too_long.id, event=None),
        Schedule(INNOVATION_DAY),
        [],
        DRAFTING,
    )
    assert len(plan.activities) == 3


def test_an_audience_is_reached_once() -> None:
    plan = complete_draft()
    with pytest.raises(Conflict):
        plan.add_audience(directors(), DRAFTING)


def test_approval_lists_every_missing_piece_and_changes_nothing() -> None:
    plan = draft()
    with pytest.raises(RuleViolation) as caught:
        plan.approve(Edit("director@aarhus.dk", NOW))
    assert {e["field"] for e in caught.value.errors} == {"goals", "activities"}
    assert (plan.status, plan.version) == (PlanStatus.DRAFT, 1)


def test_approval_publishes_the_plan_and_each_live_activity() -> None:
    plan = complete_draft()
    plan.approve(Edit("director@aarhus.dk", NOW + timedelta(days=1)))
    change, events = plan.take_change()
    assert plan.status == PlanStatus.APPROVED and plan.approved_by == "director@aarhus.dk"
    assert change is not None and change.change == "approved"
    assert kinds(events) == [PlanApproved, ActivityApproved]
    approval, activity = events[0][0], events[1][0]
    assert isinstance(approval, PlanApproved) and isinstance(activity, ActivityApproved)
    assert approval.activity_ids == [plan.activities[0].id] and approval.goals[0].target == 40
    assert events[1][1] == plan.activities[0].id  # an activity's events are keyed by it
    assert activity.audience.name == "Municipal directors" and activity.event is not None


def test_an_approved_plan_changes_only_with_a_reason_and_who_agreed() -> None:
    plan = approved()
    with pytest.raises(RuleViolation) as caught:
        plan.add_channel({"kind": "op_ed", "name": "Op-ed"}, DRAFTING)
    assert {e["field"] for e in caught.value.errors} == {"reason", "agreed_by"}
    assert plan.version == 7 and plan.events == []


def test_a_part_added_to_an_approved_plan_is_a_deviation_that_revises_it() -> None:
    plan = approved()
    plan.add_goal(
        {
            "description": "Op-ed in the national dailies",
            "metric": "op-eds",
            "target": 1,
            "unit": "op-eds",
            "deadline": None,
        },
        AGREED,
    )
    change, events = plan.take_change()
    assert [d.change for d in plan.deviations] == [Change.GOAL_ADDED]
    assert plan.deviations[0].reason == AGREED.reason
    assert kinds(events) == [PlanRevised]
    revised = events[0][0]
    assert isinstance(revised, PlanRevised) and revised.version == plan.version == 8
    assert [g.metric for g in revised.goals] == ["participants", "op-eds"]
    assert change is not None and change.change.startswith("goal added")


def test_an_activity_added_to_an_approved_plan_must_be_complete_and_goes_out_at_once() -> None:
    plan = approved()
    with pytest.raises(RuleViolation, match="needs everything"):
        plan.add_activity(round_table(plan, channel_id=None), Schedule(INNOVATION_DAY), [], AGREED)
    kl = Partner(id="p-kl", name="KL", kind="", contact="", created_at=NOW)
    added = plan.add_activity(
        round_table(plan, title="Workshop on the dilemmas"), Schedule(INNOVATION_DAY), [kl], AGREED
    )
    _change, events = plan.take_change()
    assert kinds(events) == [DeviationRecorded, PlanRevised, ActivityApproved]
    approval = events[2][0]
    assert isinstance(approval, ActivityApproved) and approval.partners == ["KL"]
    assert added.partners == [kl]


def test_rescheduling_an_approved_activity_is_recorded_and_published() -> None:
    plan = approved()
    activity = plan.activities[0]
    later = INNOVATION_DAY + timedelta(days=7)
    plan.reschedule(activity.id, Schedule(later), AGREED)
    _change, events = plan.take_change()
    assert kinds(events) == [DeviationRecorded, ActivityRescheduled, PlanRevised]
    moved = events[1][0]
    assert isinstance(moved, ActivityRescheduled)
    assert (moved.previous_starts_at, moved.starts_at) == (INNOVATION_DAY, later)
    assert activity.starts_at == activity.next_due_at == later
    assert plan.deviations[0].before == INNOVATION_DAY.isoformat()


def test_rescheduling_to_the_same_time_is_refused() -> None:
    plan = complete_draft()
    with pytest.raises(RuleViolation, match="nothing to change"):
        plan.reschedule(plan.activities[0].id, Schedule(INNOVATION_DAY), DRAFTING)


def test_a_fired_series_falls_due_again_only_at_what_lies_ahead() -> None:
    plan = draft()
    plan.add_channel({"kind": "newsletter", "name": "Tendens"}, DRAFTING)
    first = datetime(2015, 9, 1, 8, tzinfo=UTC)
    tendens = {
        "title": "Tendens",
        "kind": "communication",
        "owner": None,
        "audience_id": None,
        "message_id": None,
        "channel_id": plan.channels[0].id,
        "event": None,
    }
    series = Schedule.expand(first, "FREQ=MONTHLY;INTERVAL=2;COUNT=6", "communication")
    activity = plan.add_activity(tendens, series, [], DRAFTING)
    assert len(activity.times) == 6 and activity.ends_at == activity.times[-1]
    activity.due_fired_at = first  # the timer fired the first issue
    now = datetime(2015, 12, 1, 12, tzinfo=UTC)
    moved = Schedule.expand(first + timedelta(days=1), series.recurrence, "communication")
    plan.reschedule(activity.id, moved, Edit(PLANNER, now))
    assert activity.next_due_at == min(t for t in activity.times if t > now)


def test_a_cancelled_activity_leaves_the_revised_plan_and_cannot_change_again() -> None:
    plan = approved()
    activity = plan.activities[0]
    plan.cancel(activity.id, AGREED)
    _change, events = plan.take_change()
    assert kinds(events) == [DeviationRecorded, ActivityCancelled, PlanRevised]
    revised = events[2][0]
    assert isinstance(revised, PlanRevised) and revised.activity_ids == []
    assert activity.cancelled_at == NOW and activity.next_due_at is None
    with pytest.raises(Conflict, match="cancelled"):
        plan.cancel(activity.id, AGREED)
    with pytest.raises(NotFound):
        plan.cancel("no-such-activity", AGREED)


def test_the_status_workflow() -> None:
    plan = complete_draft()
    plan.submit(DRAFTING)
    assert plan.status == PlanStatus.IN_REVIEW and kinds(plan.events) == [PlanSubmitted]
    with pytest.raises(Conflict):
        plan.submit(DRAFTING)
    with pytest.raises(Conflict):
        plan.activate(Edit("due-timer", NOW))  # only an approved plan becomes active
    plan.approve(Edit("director@aarhus.dk", NOW))
    plan.take_change()
    plan.activate(Edit("due-timer", INNOVATION_DAY))
    change, events = plan.take_change()
    assert plan.status == PlanStatus.ACTIVE and kinds(events) == [PlanActivated]
    assert change is not None and change.by == "due-timer"
    plan.close(DRAFTING)
    assert plan.status == PlanStatus.CLOSED
    with pytest.raises(Conflict, match="closed"):
        plan.add_goal(
            {"description": "d", "metric": "m", "target": 1, "unit": "u", "deadline": None}, AGREED
        )


def test_updating_the_plan_itself() -> None:
    plan = complete_draft()
    with pytest.raises(RuleViolation, match="nothing to change"):
        plan.update({"title": "Kommune forfra"}, DRAFTING)
    plan.update({"title": "Kommune forfra – Aarhus gentænker velfærden"}, DRAFTING)
    change, _events = plan.take_change()
    assert change is not None and change.change.startswith("updated title=Kommune forfra –")
    approved_plan = approved()
    approved_plan.update({"owner": "Magistraten"}, AGREED)
    assert approved_plan.deviations[0].before == "owner=Borgmesterens Afdeling"
    assert kinds(approved_plan.events) == [PlanRevised]


def test_a_change_is_made_to_the_version_its_maker_saw() -> None:
    plan = complete_draft()
    plan.check_version(frozenset({6}))
    plan.check_version(None)
    with pytest.raises(PreconditionFailed, match="at version 6, not 4 or 5"):
        plan.check_version(frozenset({5, 4}))


def test_an_activity_is_built_with_its_partners_and_event_details() -> None:
    kl = Partner(id="p-kl", name="KL", kind="", contact="", created_at=NOW)
    fields = {
        "title": "Velfærdens innovationsdag",
        "kind": "event",
        "owner": None,
        "audience_id": None,
        "message_id": None,
        "channel_id": None,
        "event": {"format": "round_table", "capacity": 40, "venue": None},
    }
    activity = Activity.new("a1", "p1", 0, fields, Schedule(INNOVATION_DAY), [kl])
    assert activity.partners == [kl] and activity.draft.has_event_details
    assert (activity.event_format, activity.capacity) == ("round_table", 40)
    assert activity.times == [INNOVATION_DAY] and activity.next_due_at == INNOVATION_DAY


def test_a_version_is_kept_in_its_own_stored_form() -> None:
    """The kept snapshot's fields are fixed here, apart from the API's models: changing them
    means migrating the plans' history."""
    from services.planning.plans.history import snapshot

    kept = snapshot(approved())
    assert list(kept) == [
        "id",
        "title",
        "owner",
        "sender",
        "track_id",
        "period_start",
        "period_end",
        "status",
        "version",
        "created_at",
        "updated_at",
        "approved_by",
        "approved_at",
        "goals",
        "audiences",
        "messages",
        "channels",
        "activities",
    ]
    activity = kept["activities"][0]
    assert "next_due_at" not in activity  # the timer's state, not the plan's content
    assert activity["starts_at"] == "2016-01-20T08:00:00Z"
    assert list(kept["goals"][0]) == ["id", "description", "metric", "target", "unit", "deadline"]
    assert kept["audiences"][0]["kind"] == "politicians" and kept["status"] == "approved"


def test_four_eyes_someone_other_than_who_submitted_approves() -> None:
    plan = complete_draft()
    with pytest.raises(Conflict, match="submit the plan for review first"):
        plan.approve(Edit("director@aarhus.dk", NOW), four_eyes=True)
    plan.submit(DRAFTING)
    assert plan.submitted_by == PLANNER
    with pytest.raises(Forbidden, match="someone else must approve it"):
        plan.approve(Edit(PLANNER, NOW), four_eyes=True)
    assert plan.status == PlanStatus.IN_REVIEW
    plan.approve(Edit("director@aarhus.dk", NOW), four_eyes=True)
    assert plan.status == PlanStatus.APPROVED and plan.approved_by == "director@aarhus.dk"
