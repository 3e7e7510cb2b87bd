"""Export the event contracts for subscribers: one JSON Schema per event type and an
AsyncAPI 3.0 document of the topics.   python -m shared.contracts.export docs/events
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from shared.contracts import Envelope, EventData, registry


def event_schema(model: type[EventData]) -> dict[str, Any]:
    """The whole message as it travels: the envelope with this type's `data`."""
    schema = Envelope.model_json_schema()
    data = model.model_json_schema(ref_template="#/$defs/{model}")
    schema["$defs"] = {**schema.get("$defs", {}), **data.pop("$defs", {})}
    schema["title"] = model.type
    schema["description"] = (model.__doc__ or f"The {model.type} event.").strip()
    schema["properties"]["type"] = {"const": model.type, "type": "string"}
    schema["properties"]["data"] = data
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://budskab.example/schemas/{model.type}.json"
    return schema


def asyncapi() -> dict[str, Any]:
    by_topic: dict[str, list[type[EventData]]] = defaultdict(list)
    for model in registry.all():
        by_topic[model.topic].append(model)
    channels, operations, messages = {}, {}, {}
    for topic, models in sorted(by_topic.items()):
        name = topic.replace(".", "_")
        channels[name] = {
            "address": topic,
            "description": "Keyed by the aggregate id (the CloudEvents `subject`).",
            "messages": {
                m.type.replace(".", "_"): {
                    "$ref": f"#/components/messages/{m.type.replace('.', '_')}"
                }
                for m in models
            },
        }
        operations[f"receive_{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{name}"},
            "summary": f"Subscribe to {topic}.",
        }
        for model in models:
            messages[model.type.replace(".", "_")] = {
                "name": model.type,
                "title": model.type,
                "contentType": "application/cloudevents+json",
                "headers": {
                    "type": "object",
                    "properties": {
                        "ce_id": {"type": "string"},
                        "ce_type": {"const": model.type},
                        "ce_source": {"type": "string"},
                        "correlationid": {"type": "string"},
                    },
                },
                "payload": event_schema(model),
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Budskab event stream",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 (structured mode) on Kafka. Types are versioned; "
            "a breaking change is a new type version published side by side.",
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def documents() -> dict[str, str]:
    """File name → content, for every exported document."""
    files = {f"{m.type}.schema.json": event_schema(m) for m in registry.all()}
    files["asyncapi.json"] = asyncapi()
    return {
        name: json.dumps(doc, indent=2, ensure_ascii=False) + "\n" for name, doc in files.items()
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, content in documents().items():
        (out / name).write_text(content)
    print(f"wrote {len(documents())} documents to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events"))
