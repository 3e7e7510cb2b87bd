"""The event envelope and the registry: what is a valid Budskab event, and why not."""

import json
from datetime import UTC, datetime

import pytest

from shared.contracts import CONTENT_TYPE, InvalidEvent, new_envelope, registry
from shared.contracts.events import EventCreated


def event_created() -> EventCreated:
    return EventCreated(
        event_id="e-1",
        activity_id="a-1",
        plan_id="p-1",
        title="Velfærdens innovationsdag",
        format="theme_day",
        starts_at=datetime(2016, 1, 20, 8, tzinfo=UTC),
        capacity=300,
    )


def test_an_envelope_carries_cloudevents_attributes_and_the_correlation_id() -> None:
    envelope = new_envelope(
        event_created(), source="/budskab/events", subject="e-1", correlation_id="c-9"
    )
    raw = envelope.model_dump(mode="json")
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "event.created.v1"
    assert raw["source"] == "/budskab/events" and raw["subject"] == "e-1"
    assert raw["datacontenttype"] == "application/json"
    assert raw["correlationid"] == "c-9"
    assert raw["data"]["capacity"] == 300
    assert envelope.headers() == {
        "content-type": CONTENT_TYPE,
        "ce_id": envelope.id,
        "ce_type": "event.created.v1",
        "ce_source": "/budskab/events",
        "correlationid": "c-9",
    }


def test_parse_round_trips_into_the_typed_payload() -> None:
    envelope = new_envelope(
        event_created(), source="/budskab/events", subject="e-1", correlation_id="c"
    )
    parsed, data = registry.parse(envelope.model_dump_json().encode())
    assert parsed.id == envelope.id
    assert data == event_created()


def test_the_one_pass_parse_reads_an_event_as_the_two_step_parse_does() -> None:
    # A newer producer's extra attribute and extra field are ignored by both; the payload
    # comes out as the same typed model, the envelope with the same attributes.
    envelope = new_envelope(event_created(), source="/s", subject="e-1", correlation_id="c")
    raw = envelope.model_dump(mode="json") | {"traceparent": "00-abc-01"}
    raw["data"] |= {"added_in_a_later_version": True, "capacity": "300"}
    body = json.dumps(raw).encode()
    one_pass, one_pass_data = registry.parse(body)
    two_step, two_step_data = registry._parse_in_two_steps(body)
    assert one_pass_data == two_step_data == event_created()
    assert one_pass.model_dump(exclude={"data"}) == two_step.model_dump(exclude={"data"})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "invalid envelope"),
        (b'{"specversion": "1.0"}', "invalid envelope: id"),
        (b"", "invalid envelope"),
    ],
)
def test_parse_names_what_is_wrong_with_a_broken_envelope(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        registry.parse(raw)


def test_parse_rejects_an_unknown_type_and_bad_data_naming_the_field() -> None:
    envelope = new_envelope(event_created(), source="/s", subject="e-1", correlation_id="c")
    unknown = envelope.model_copy(update={"type": "event.created.v9"})
    with pytest.raises(InvalidEvent, match="unknown event type 'event.created.v9'"):
        registry.parse(unknown.model_dump_json().encode())
    bad = envelope.model_copy(update={"data": {**envelope.data, "capacity": "many"}})
    with pytest.raises(InvalidEvent, match="invalid data for event.created.v1: capacity"):
        registry.parse(bad.model_dump_json().encode())


def test_every_event_type_is_versioned_and_has_a_topic() -> None:
    for model in registry.all():
        name, _, version = model.type.rpartition(".")
        assert name and version.startswith("v") and version[1:].isdigit(), model.type
        assert model.topic.startswith("budskab."), model.type


def test_a_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(EventCreated)


def test_event_ids_sort_in_the_order_the_events_were_made() -> None:
    """Inboxes are keyed by event id: ids made later sort later (UUIDv7), so a consumer's
    inbox grows at its end instead of on a random page of its index."""
    ids = [
        new_envelope(event_created(), source="/s", subject="e-1", correlation_id="c").id
        for _ in range(2000)
    ]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_a_recurring_activity_with_more_occurrences_than_planning_makes_is_invalid() -> None:
    """One such message made notifications create 120,000 sends and held it for 7 s."""
    from datetime import timedelta

    from shared.contracts.planning import MAX_OCCURRENCES, ActivityApproved

    start = datetime(2040, 1, 1, tzinfo=UTC)
    approved = ActivityApproved(
        activity_id="a",
        plan_id="p",
        title="Nyt fra direktionen",
        kind="communication",
        channel="newsletter",
        starts_at=start,
        audience={"id": "staff", "name": "Medarbejdere"},
        message={"id": "m", "subject": "s", "body": "b"},
        occurrences=[start + timedelta(hours=i) for i in range(MAX_OCCURRENCES)],
    )
    raw = new_envelope(approved, source="/probe", subject="a", correlation_id="c")
    assert registry.parse(raw.model_dump_json().encode())[1] == approved
    data = json.loads(raw.model_dump_json())
    data["data"]["occurrences"].append("2041-01-01T00:00:00Z")
    with pytest.raises(InvalidEvent, match="occurrences"):
        registry.parse(json.dumps(data).encode())
