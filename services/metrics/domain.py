"""What the metrics service counts, in plain Python."""

from __future__ import annotations

from shared.contracts import EventData, registry


def plan_of(data: EventData) -> str | None:
    """The plan an event belongs to, if it belongs to one."""
    return getattr(data, "plan_id", None)


def counted_event_types() -> list[type[EventData]]:
    """Every known event type that names its plan is counted per plan."""
    return [model for model in registry.all() if "plan_id" in model.model_fields]
