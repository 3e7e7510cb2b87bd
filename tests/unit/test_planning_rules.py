"""Planning's approval rules: goal, audience, message and channel for everything."""

import pytest

from services.planning.domain import ActivityDraft, PlanStatus, check_approvable, ensure_editable
from shared.contracts.vocabulary import ActivityKind
from shared.errors import Conflict, RuleViolation


def activity(**overrides) -> ActivityDraft:  # type: ignore[no-untyped-def]
    values = dict(
        title="Velfærdens innovationsdag", kind=ActivityKind.EVENT, audience_id="a",
        message_id="m", channel_id="c", has_event_details=True,
    )  # fmt: skip
    return ActivityDraft(**{**values, **overrides})


def test_a_complete_draft_can_be_approved() -> None:
    check_approvable(PlanStatus.DRAFT, [activity(), activity(kind=ActivityKind.COMMUNICATION)])


def test_a_plan_without_activities_cannot_be_approved() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_approvable(PlanStatus.DRAFT, [])
    assert caught.value.errors == [
        {"field": "activities", "message": "a plan needs at least one activity"}
    ]


def test_every_missing_piece_is_listed_at_once() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_approvable(
            PlanStatus.IN_REVIEW,
            [activity(), activity(title="Kronik", kind=ActivityKind.COMMUNICATION, audience_id=None, channel_id=None),
             activity(title="Folkemødet", has_event_details=False)],
        )  # fmt: skip
    assert [e["field"] for e in caught.value.errors] == [
        "activities[1] (Kronik).audience_id",
        "activities[1] (Kronik).channel_id",
        "activities[2] (Folkemødet).event",
    ]
    assert "3 problem(s)" in caught.value.detail


@pytest.mark.parametrize("status", [PlanStatus.APPROVED, PlanStatus.ACTIVE, PlanStatus.CLOSED])
def test_only_drafts_and_plans_in_review_change(status: PlanStatus) -> None:
    with pytest.raises(Conflict, match="deviation"):
        ensure_editable(status)
    with pytest.raises(Conflict):
        check_approvable(status, [activity()])
