"""Surveys in plain Python: reading a filled-in form, the results, and what an open survey
may still change."""

import pytest

from services.metrics.questionnaire import (
    as_text,
    check_only_renamed,
    read_form,
    results,
    satisfied,
    with_ids,
)
from shared.errors import Conflict

QUESTIONS = with_ids(
    [
        {"kind": "rating", "text": "Tilfreds?", "required": True, "satisfaction": True},
        {"kind": "multiple_choice", "text": "Hvad?", "options": [{"label": "A"}, {"label": "B"}]},
        {"kind": "number", "text": "Hvor mange?"},
        {"kind": "text", "text": "Bedre?"},
    ]
)
RATE, PICK, COUNT, FREE = (q["id"] for q in QUESTIONS)
A, B = (o["id"] for o in QUESTIONS[1]["options"])


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "err_required"),
        ({f"q-{RATE}": ["6"]}, "err_choice"),
        ({f"q-{RATE}": ["²"]}, "err_choice"),  # a digit to str.isdigit, not to int()
        ({f"q-{RATE}": ["4.0"]}, "err_choice"),
    ],
)
def test_a_bad_or_missing_answer_is_an_error_of_its_question(form: dict, error: str) -> None:
    assert read_form(QUESTIONS, form).errors == {RATE: error}


def test_a_filled_in_form_reads_as_typed_values() -> None:
    form = {
        f"q-{RATE}": ["4"],
        f"q-{PICK}": [A, B, A],
        f"q-{COUNT}": ["3,5"],
        f"q-{FREE}": ["  "],  # blank: unanswered
    }
    filled = read_form(QUESTIONS, form)
    assert filled.errors == {}
    assert filled.answers == {RATE: 4, PICK: [A, B], COUNT: 3.5}
    assert read_form(QUESTIONS, {f"q-{RATE}": ["4"], f"q-{PICK}": ["nope"]}).errors == {
        PICK: "err_choice"
    }
    assert read_form(QUESTIONS, {f"q-{RATE}": ["4"], f"q-{COUNT}": ["nan"]}).errors == {
        COUNT: "err_number"
    }


def test_results_count_and_share_and_hide_small_anonymous_groups() -> None:
    answers = [{RATE: r, PICK: [A]} for r in (5, 4, 4, 2)] + [{RATE: 1, PICK: [A, B]}]
    assert satisfied(QUESTIONS, answers) == (3, 5)
    rating, pick, count, _ = results(QUESTIONS, answers, anonymous=True)
    assert [o["count"] for o in rating["options"]] == [1, 1, 0, 2, 1]
    assert rating["mean"] == 3.2 and rating["satisfied_share"] == 60.0
    assert [(o["count"], o["share"]) for o in pick["options"]] == [(5, 100.0), (1, 20.0)]
    assert count == {
        "question_id": COUNT,
        "kind": "number",
        "text": "Hvor mange?",
        "answered": 0,
        "hidden": True,
    }
    assert not results(QUESTIONS, answers[:4], anonymous=False)[0]["hidden"]
    assert results(QUESTIONS, answers[:4], anonymous=True)[0]["hidden"]


def test_an_open_survey_may_rename_but_not_reshape() -> None:
    renamed = [dict(q) for q in QUESTIONS]
    renamed[1] = {
        **renamed[1],
        "options": [{**o, "label": o["label"] + "!"} for o in renamed[1]["options"]],
    }
    check_only_renamed(QUESTIONS, renamed)
    for changed in (
        QUESTIONS[:-1],
        [*QUESTIONS[1:], QUESTIONS[0]],
        [{**QUESTIONS[0], "kind": "nps"}, *QUESTIONS[1:]],
        [{**QUESTIONS[0], "satisfaction": False}, *QUESTIONS[1:]],
    ):
        with pytest.raises(Conflict):
            check_only_renamed(QUESTIONS, changed)


def test_answers_that_a_spreadsheet_would_run_are_quoted() -> None:
    assert as_text(QUESTIONS[3], '=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert as_text(QUESTIONS[2], -3.0) == "-3.0"  # a number stays a number
    assert as_text(QUESTIONS[1], [A, B]) == "A; B"
