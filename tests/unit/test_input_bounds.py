"""Inputs that would be accepted and then fail later (a header, a mail server, date
arithmetic) are refused when they arrive: what the API models check, without I/O."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.notifications.schemas import ContactCreate
from services.planning.plans.schemas import ActivityCreate, GoalCreate, MessageCreate


@pytest.mark.parametrize(
    "subject", ["Tendens\u2028nr. 6", "Tendens\x85nr. 6", "Ten\rdens", "a\u2029b"]
)
def test_a_subject_is_one_line(subject: str) -> None:
    with pytest.raises(ValidationError, match="must be one line"):
        MessageCreate(audience_id="a", subject=subject, body="Nyt fra regionen.")
    assert MessageCreate(audience_id="a", subject="Tendens nr. 6", body="b").subject


@pytest.mark.parametrize(
    ("email", "name", "field"),
    [
        ("mette@jobcenter.example", "Mette\r\nBcc: alle@jobcenter.example", "name"),
        ("mette@jobcenter.example", "Mette\u2028Jensen", "name"),
        ("søren@jobcenter.example", "Søren", "email"),
    ],
)
def test_a_contact_is_one_a_plain_smtp_server_can_deliver_to(
    email: str, name: str, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ContactCreate(email=email, name=name, email_consent=True)
    assert caught.value.errors()[0]["loc"] == (field,)
    assert ContactCreate(email="soren@jobcenter.example", name="Søren Ø", email_consent=True)


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2201-01-01T00:00:00Z"]
)
def test_times_are_within_the_years_a_plan_can_name(when: str) -> None:
    with pytest.raises(ValidationError, match="within the years 1900–2200"):
        ActivityCreate(title="Kronik", kind="communication", starts_at=when)


@pytest.mark.parametrize("target", [float("inf"), float("nan"), 1e999])
def test_numbers_are_finite(target: float) -> None:
    with pytest.raises(ValidationError, match="finite"):
        GoalCreate(description="d", metric="m", target=target, unit="u")


def test_the_bounds_are_stated_in_the_openapi() -> None:
    schema = ActivityCreate.model_json_schema()
    assert schema["properties"]["starts_at"]["x-years"] == "1900-2200"
