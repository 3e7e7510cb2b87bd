"""Planning's approval rules: goal, audience, message and channel for everything."""

import pytest

from services.planning.domain import (
    ActivityDraft,
    AudienceKind,
    PlanStatus,
    check_approvable,
    ensure_editable,
    lix,
    readability_warning,
)
from shared.contracts.vocabulary import ActivityKind
from shared.errors import Conflict, RuleViolation


def activity(**overrides) -> ActivityDraft:  # type: ignore[no-untyped-def]
    values = dict(
        title="Velfærdens innovationsdag",
        kind=ActivityKind.EVENT,
        audience_id="a",
        message_id="m",
        channel_id="c",
        has_event_details=True,
    )
    return ActivityDraft(**{**values, **overrides})


def test_a_complete_draft_can_be_approved() -> None:
    check_approvable(PlanStatus.DRAFT, 1, [activity(), activity(kind=ActivityKind.COMMUNICATION)])


def test_a_plan_without_activities_cannot_be_approved() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_approvable(PlanStatus.DRAFT, 1, [])
    assert caught.value.errors == [
        {"field": "activities", "message": "a plan needs at least one activity"}
    ]


def test_a_plan_without_a_measurable_goal_cannot_be_approved() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_approvable(PlanStatus.DRAFT, 0, [activity()])
    assert caught.value.errors == [
        {"field": "goals", "message": "a plan needs at least one measurable goal"}
    ]


def test_every_missing_piece_is_listed_at_once() -> None:
    with pytest.raises(RuleViolation) as caught:
        check_approvable(
            PlanStatus.IN_REVIEW,
            1,
            [
                activity(),
                activity(
                    title="Kronik",
                    kind=ActivityKind.COMMUNICATION,
                    audience_id=None,
                    channel_id=None,
                ),
                activity(title="Folkemødet", has_event_details=False),
            ],
        )
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
        check_approvable(status, 1, [activity()])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 14 words, 2 sentences, 4 longer than six letters: 7 + 28.6
        (
            "Vi inviterer alle aarhusianere til at tænke velfærden forfra. Hvad er vigtigt for dig?",
            35.6,
        ),
        ("Kom til mødet. Det er gratis.", 3.0),  # 6 words, 2 sentences, none long
        ("Hej. Hej", 1.0),  # the last sentence needs no full stop
        ("Tendens udkommer 6 gange om året.", 45.0),  # numbers are not words: 5 words, 2 long
        ("", 0.0),
    ],
)
def test_lix_counts_words_sentences_and_long_words(text: str, expected: float) -> None:
    assert lix(text) == expected


def test_officialese_to_citizens_gets_a_warning_and_plain_language_does_not() -> None:
    officialese = lix(
        "Kommunalbestyrelsens beslutningsgrundlag vedrørende implementeringen af "
        "velfærdsteknologiske løsninger forudsætter tværorganisatorisk koordinering."
    )
    assert officialese > 60
    assert "plain language" in readability_warning(AudienceKind.CITIZENS, officialese, 40)
    assert readability_warning(AudienceKind.STAFF, officialese, 40) is None  # staff: professional
    assert (
        readability_warning(AudienceKind.CITIZENS, lix("Kom til mødet. Det er gratis."), 40) is None
    )


def test_overlaps_are_different_plans_reaching_one_audience_within_the_window() -> None:
    from datetime import UTC, datetime, timedelta

    from services.planning.domain import Scheduled, overlaps

    def at(
        day: int, plan: str = "other", audience: str = "staff", activity: str = "x"
    ) -> Scheduled:
        return Scheduled(
            plan,
            plan,
            f"{plan}-{activity}-{day}",
            activity,
            audience,
            datetime(2016, 1, day, tzinfo=UTC),
        )

    mine = [at(10, plan="mine")]
    others = [at(3), at(17), at(18), at(12, audience="press"), at(11, plan="mine")]
    clashes = overlaps(mine, others, timedelta(days=7))
    assert [theirs.starts_at.day for _mine, theirs, _n in clashes] == [3, 17]  # 7 days clash
