"""Who gets an e-mail, and when a failed send is tried again."""

from datetime import UTC, datetime, timedelta

import pytest

from services.notifications import compose
from services.notifications.contacts import MAX_ATTRIBUTES, merged_attributes
from services.notifications.domain import (
    QuietHours,
    SmsKeyword,
    next_attempt,
    send_times,
    sends_messages,
    sms_keyword,
    sms_parts,
)
from shared.contracts.planning import ActivityApproved, AudienceRef, MessageRef

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def approved(kind: str, channel: str) -> ActivityApproved:
    return ActivityApproved(
        activity_id="a",
        plan_id="p",
        title="Tendens nr. 6",
        kind=kind,
        channel=channel,
        starts_at=NOW,
        audience=AudienceRef(id="job-centres", name="Jobcentre"),
        message=MessageRef(id="m", subject="Tendens", body="Nyt fra regionen"),
    )


@pytest.mark.parametrize(
    ("kind", "channel", "expected"),
    [
        ("communication", "newsletter", True),
        ("communication", "email", True),
        ("communication", "sms", True),
        ("communication", "webhook", True),
        ("communication", "digital_post", False),  # e-Boks: not a channel of ours
        ("communication", "op_ed", False),  # printed in a newspaper, not sent by us
        ("event", "newsletter", False),  # events invite through the events service
        ("other", "email", False),
    ],
)
def test_only_communication_activities_on_our_channels_are_sent(kind, channel, expected) -> None:  # type: ignore[no-untyped-def]
    assert sends_messages(approved(kind, channel)) is expected


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    for attempts, ceiling in [(1, 2), (2, 4), (3, 8), (5, 32)]:
        for _ in range(50):
            delay = next_attempt(NOW, attempts, base_seconds=2.0) - NOW
            assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)
    assert next_attempt(NOW, 40, base_seconds=2.0) - NOW <= timedelta(hours=1)


def test_of_the_past_issues_only_the_latest_is_sent() -> None:
    now = datetime(2016, 3, 15, tzinfo=UTC)
    issues = [datetime(2016, month, 1, tzinfo=UTC) for month in range(1, 7)]
    assert send_times(issues, now) == issues[2:]
    assert send_times(issues[:1], now) == issues[:1]  # a single one already past: now
    assert send_times(issues, now, catch_up=False) == issues[3:]  # had an issue already
    future = now + timedelta(days=1)
    assert send_times([future], now) == [future]


@pytest.mark.parametrize(
    ("utc", "quiet"),
    [
        (datetime(2026, 12, 2, 19, 59, tzinfo=UTC), False),  # 20:59 in Copenhagen (winter)
        (datetime(2026, 12, 2, 20, 0, tzinfo=UTC), True),  # 21:00
        (datetime(2026, 12, 3, 3, 0, tzinfo=UTC), True),  # 04:00, past midnight
        (datetime(2026, 12, 3, 7, 0, tzinfo=UTC), False),  # 08:00: the end is not quiet
        (datetime(2026, 7, 1, 19, 0, tzinfo=UTC), True),  # 21:00 in summer time
        (datetime(2026, 7, 1, 6, 0, tzinfo=UTC), False),  # 08:00 in summer time
    ],
)
def test_quiet_hours_are_danish_time_across_midnight(utc: datetime, quiet: bool) -> None:
    assert QuietHours.parse("21:00-08:00").holds(utc) is quiet


def test_quiet_hours_within_a_day_and_badly_written_ones() -> None:
    lunch = QuietHours.parse("12:00 - 13:00")
    assert lunch.holds(datetime(2026, 12, 2, 11, 30, tzinfo=UTC))  # 12:30
    assert not lunch.holds(datetime(2026, 12, 2, 12, 0, tzinfo=UTC))  # 13:00
    for bad in ("9pm", "21:00", "21:00-25:00", "08:00-08:00"):
        with pytest.raises(ValueError, match="quiet hours"):
            QuietHours.parse(bad)


@pytest.mark.parametrize(
    ("name", "address", "why"),
    [
        ("Anne", "not-an-address", "not one a mail server takes"),
        ("Anne", "anne@", "not one a mail server takes"),
        ("Anne", "anné@aarhus.dk", "not one a mail server takes"),  # no SMTPUTF8
        ("A" * 201, "anne@aarhus.dk", "longer than 200 characters"),
    ],
)
def test_a_message_is_not_made_for_whom_no_mail_server_takes(
    name: str, address: str, why: str
) -> None:
    """An attendee's name and address arrive in another service's event: what no mail server
    takes fails when the message is made, not at the server (or, worse, is handed over)."""

    def made_for(name: str, address: str) -> bytes:
        return compose.message(
            sender="Aarhus Kommune <noreply@aarhus.dk>",
            name=name,
            address=address,
            subject="Velfærdens innovationsdag",
            text="Vi ses.",
            message_id="<x@budskab>",
            date=datetime(2016, 1, 19, 9, tzinfo=UTC),
        )

    with pytest.raises(ValueError, match=why):
        made_for(name, address)
    made = made_for("Anne Holm", "anne.holm@aarhus.dk")
    assert b"anne.holm@aarhus.dk" in made


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Hej fra Silkeborg Kommune", 1),
        ("æøå ÆØÅ " * 20, 1),  # Danish letters are GSM: 160 septets go as one
        ("a" * 161, 2),
        ("a" * 306, 2),  # 153 a part once it is more than one
        ("a" * 307, 3),
        ("a" * 612, 4),
        ("€" * 80, 1),  # € and ^{}\[~]| take two septets each
        ("€" * 81, 2),
        ("“" * 70, 1),  # a curly quote is not GSM: the text goes as UCS-2, 70 in one
        ("“" * 71, 2),
        ("😀" * 35, 1),  # an emoji is two UCS-2 units
        ("😀" * 36, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 septets, but € is not split between parts
        ("a" * 66 + "😀" + "a" * 66, 3),  # nor is an emoji's pair of UCS-2 units
    ],
)
def test_an_sms_is_billed_by_parts_as_the_network_splits_it(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


@pytest.mark.parametrize(
    ("reply", "keyword"),
    [("STOP", SmsKeyword.STOP), ("stop tak", SmsKeyword.STOP), ("Afmeld.", SmsKeyword.STOP)]
    + [("Stopp!", SmsKeyword.STOP), ("BUDSKAB stop", SmsKeyword.STOP)]  # a shared number's
    + [("Start", SmsKeyword.START), ("tilmeld igen", SmsKeyword.START)]
    + [("start stop", SmsKeyword.STOP), ("stop start", SmsKeyword.STOP)]  # the safe way
    + [("Tak for info", None), ("", None), ("Hvornår stopper det?", None), ("STOPPER", None)]
    + [("Starter mødet kl. 10?", None)],
)
def test_a_reply_that_starts_with_stop_or_start_is_that_keyword(
    reply: str, keyword: SmsKeyword | None
) -> None:
    assert sms_keyword(reply) == keyword


def test_a_contact_keeps_at_most_thirty_attributes_the_newest_first() -> None:
    old = {f"old{i}": "x" for i in range(25)} | {"kommune": "Aarhus", "rolle": "leder"}
    new = {f"new{i}": "y" for i in range(10)} | {"kommune": "Silkeborg", "rolle": ""}
    merged = merged_attributes(old, new)
    assert len(merged) == MAX_ATTRIBUTES == 30
    assert merged["kommune"] == "Silkeborg" and "rolle" not in merged  # emptied: taken away
    assert all(f"new{i}" in merged for i in range(10))  # what the newest file gave is kept
    assert merged_attributes({"a": "1"}, {"b": "2"}) == {"b": "2", "a": "1"}
