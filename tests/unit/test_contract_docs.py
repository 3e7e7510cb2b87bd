"""The exported JSON Schemas and AsyncAPI document match the models, and real events
validate against them — what a subscribing system relies on."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema

from shared.contracts import new_envelope, registry
from shared.contracts.export import documents, event_schema
from shared.contracts.notifications import DeliverySent

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events"


def test_the_committed_documents_are_up_to_date() -> None:
    for name, content in documents().items():
        path = DOCS / name
        assert path.exists(), f"{path} is missing: run `python -m shared.contracts.export`"
        assert path.read_text() == content, (
            f"{name} is stale: run `python -m shared.contracts.export`"
        )


def test_a_real_event_validates_against_its_schema_and_a_broken_one_does_not() -> None:
    data = DeliverySent(
        delivery_id="d",
        activity_id="a",
        plan_id="p",
        contact_id="c",
        channel="newsletter",
        sent_at=datetime.now(UTC),
    )
    event = new_envelope(data, source="/budskab/notifications", subject="d", correlation_id="c")
    schema = event_schema(DeliverySent)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(event.model_dump_json()), schema)
    broken = json.loads(event.model_dump_json())
    del broken["data"]["channel"]
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(broken))


def test_asyncapi_lists_every_type_on_its_topic() -> None:
    doc = json.loads(documents()["asyncapi.json"])
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"]: set(c["messages"]) for c in doc["channels"].values()}
    for model in registry.all():
        assert model.type.replace(".", "_") in addresses[model.topic]
