"""Surveys in plain Python: the kinds of question, reading a filled-in form, and the results.

A survey's questions are plain dicts (as stored): {id, kind, text, text_en, section,
required, satisfaction, options: [{id, label, label_en}]}. Ids are made once and kept, so a
renamed option still counts the answers it had.
"""

from __future__ import annotations

import statistics
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import Conflict
from shared.spreadsheets import spreadsheet_text

MIN_BREAKDOWN = 5  # an anonymous survey shows no result drawn from fewer answers
TEXT_MAX = 5000  # characters of a free-text answer


class QuestionKind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    YES_NO = "yes_no"
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    RATING = "rating"  # 1–5
    NPS = "nps"  # 0–10: would you recommend it


CHOICES = {QuestionKind.SINGLE_CHOICE, QuestionKind.MULTIPLE_CHOICE}
SCALES = {QuestionKind.RATING: range(1, 6), QuestionKind.NPS: range(0, 11)}
# who counts as satisfied: 4 or 5 of 5; a promoter (9 or 10) on the NPS scale
SATISFIED_FROM = {QuestionKind.RATING: 4, QuestionKind.NPS: 9}


def new_key() -> str:
    return uuid.uuid4().hex[:10]


def with_ids(questions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The questions to store: ids kept where given, made where not."""
    stored = []
    for question in questions:
        options = [
            {**option, "id": option.get("id") or new_key()}
            for option in question.get("options") or []
        ]
        stored.append({**question, "id": question.get("id") or new_key(), "options": options})
    return stored


def check_only_renamed(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]):
    """Once a survey is open its answers name its questions and options: texts may change,
    but not which questions and options there are, nor their kinds."""

    def shape(questions: Sequence[Mapping[str, Any]]) -> list[tuple]:
        return [
            (
                q["id"],
                q["kind"],
                bool(q.get("satisfaction")),
                tuple(o["id"] for o in q.get("options") or []),
            )
            for q in questions
        ]

    if shape(before) != shape(after):
        raise Conflict(
            "the survey is open: questions and options can be renamed, not added, removed, "
            "reordered or changed in kind (give each its id)"
        )


def label(item: Any, key: str, language: str) -> str:
    """A survey's title, a question's text or an option's label in the reader's language
    (Danish if there is no English)."""
    fields = item if isinstance(item, Mapping) else vars(item)
    return (language == "en" and fields.get(f"{key}_en")) or fields[key]


@dataclass(frozen=True)
class FilledIn:
    answers: dict[str, Any]
    errors: dict[str, str]  # question id → what is wrong (a key of the page's texts)


def read_form(questions: Sequence[Mapping[str, Any]], form: Mapping[str, list[str]]) -> FilledIn:
    """The answers in a submitted form (field `q-<id>`, repeated for multiple choice); what
    is missing or malformed, by question. Unanswered optional questions are left out."""
    answers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in questions:
        values = [v.strip() for v in form.get(f"q-{question['id']}", []) if v.strip()]
        if not values:
            if question.get("required"):
                errors[question["id"]] = "err_required"
            continue
        value, error = _value(question, values)
        if error:
            errors[question["id"]] = error
        else:
            answers[question["id"]] = value
    return FilledIn(answers, errors)


def _value(question: Mapping[str, Any], values: list[str]) -> tuple[Any, str | None]:
    kind = QuestionKind(question["kind"])
    option_ids = {option["id"] for option in question.get("options") or []}
    if kind is QuestionKind.TEXT:
        text = values[0]
        return (text, None) if len(text) <= TEXT_MAX else (None, "err_too_long")
    if kind is QuestionKind.NUMBER:
        try:
            number = float(values[0].replace(",", "."))
        except ValueError:
            return None, "err_number"
        return (number, None) if abs(number) < 1e12 else (None, "err_number")
    if kind is QuestionKind.YES_NO:
        return (values[0] == "yes", None) if values[0] in ("yes", "no") else (None, "err_choice")
    if kind in SCALES:
        ok = values[0].isascii() and values[0].isdigit() and int(values[0]) in SCALES[kind]
        return (int(values[0]), None) if ok else (None, "err_choice")
    if kind is QuestionKind.SINGLE_CHOICE:
        return (values[0], None) if values[0] in option_ids else (None, "err_choice")
    chosen = list(dict.fromkeys(values))  # multiple choice: each option once
    return (chosen, None) if set(chosen) <= option_ids else (None, "err_choice")


def satisfied(
    questions: Sequence[Mapping[str, Any]], responses: Iterable[Mapping[str, Any]]
) -> tuple[int, int]:
    """(satisfied, answered) on the survey's satisfaction question; (0, 0) if it has none."""
    question = next((q for q in questions if q.get("satisfaction")), None)
    if question is None:
        return 0, 0
    threshold = SATISFIED_FROM[QuestionKind(question["kind"])]
    scores = [r[question["id"]] for r in responses if question["id"] in r]
    return sum(score >= threshold for score in scores), len(scores)


def share(part: int, whole: int) -> float | None:
    """Per cent, one decimal; None when there is nothing to share."""
    return round(100 * part / whole, 1) if whole else None


def results(
    questions: Sequence[Mapping[str, Any]], responses: Sequence[Mapping[str, Any]], anonymous: bool
) -> list[dict[str, Any]]:
    """Per question: how many answered it, and counts with shares (choices, yes/no, scales),
    the mean (numbers, scales) or the texts. An anonymous survey hides a question's results
    until at least MIN_BREAKDOWN people answered it."""
    out = []
    for question in questions:
        values = [r[question["id"]] for r in responses if question["id"] in r]
        result: dict[str, Any] = {
            "question_id": question["id"],
            "kind": question["kind"],
            "text": question["text"],
            "answered": len(values),
            "hidden": anonymous and len(values) < MIN_BREAKDOWN,
        }
        if not result["hidden"]:
            result |= _breakdown(question, values)
        out.append(result)
    return out


def _breakdown(question: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    kind = QuestionKind(question["kind"])
    if kind is QuestionKind.TEXT:
        return {"texts": values}
    if kind is QuestionKind.NUMBER:
        return {"mean": round(statistics.fmean(values), 2) if values else None}
    if kind is QuestionKind.YES_NO:
        keys: list[Any] = [True, False]
        labels = ["yes", "no"]
    elif kind in SCALES:
        keys = list(SCALES[kind])
        labels = [str(k) for k in keys]
    else:
        keys = [option["id"] for option in question["options"]]
        labels = [option["label"] for option in question["options"]]
    counted = Counter(
        chosen for value in values for chosen in (value if isinstance(value, list) else [value])
    )
    breakdown: dict[str, Any] = {
        "options": [
            {"id": str(key).lower(), "label": text, "count": counted[key]}
            | {"share": share(counted[key], len(values))}
            for key, text in zip(keys, labels, strict=True)
        ]
    }
    if kind in SCALES:
        breakdown["mean"] = round(statistics.fmean(values), 2) if values else None
    if question.get("satisfaction"):
        happy, answered = satisfied([question], [{question["id"]: v} for v in values])
        breakdown["satisfied_share"] = share(happy, answered)
    return breakdown


def as_text(question: Mapping[str, Any], value: Any) -> str:
    """An answer as a spreadsheet cell: choices by label; text that a spreadsheet would run as
    a formula (=, +, -, @) is quoted."""
    if value is None:
        return ""
    labels: dict[str, str] = {o["id"]: o["label"] for o in question.get("options") or []}
    if isinstance(value, list):
        return spreadsheet_text("; ".join(str(labels.get(v, v)) for v in value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if question["kind"] == QuestionKind.SINGLE_CHOICE:
        return spreadsheet_text(labels.get(value, value))
    text = str(value)
    return spreadsheet_text(text) if question["kind"] == QuestionKind.TEXT else text
