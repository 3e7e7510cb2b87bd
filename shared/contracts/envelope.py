"""The one envelope every Budskab event travels in: CloudEvents 1.0 + correlation id.

Events go over Kafka in CloudEvents *structured* mode: the message value is the JSON
envelope below, the key is the aggregate id (`subject`), and a few attributes are copied
into headers so that tools can route without parsing the body.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from shared.ids import new_id

CONTENT_TYPE = "application/cloudevents+json"


class EventData(BaseModel):
    """Base of every event payload. Subclasses set the versioned type and its topic.

    Unknown fields are ignored on reading: adding an optional field is not a breaking change.
    Numbers are finite: JSON has no Infinity or NaN.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    type: ClassVar[str]
    topic: ClassVar[str]


class Envelope(BaseModel):
    """A CloudEvents 1.0 event with Budskab's `correlationid` extension. Other extension
    attributes (e.g. `traceparent`) are ignored on reading."""

    model_config = ConfigDict(extra="ignore")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1, examples=["/budskab/planning"])
    type: str = Field(min_length=1, examples=["plan.approved.v1"])
    time: datetime
    subject: str = Field(min_length=1, description="The aggregate id; also the Kafka key.")
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str = Field(min_length=1)
    data: dict[str, Any]

    def headers(self) -> dict[str, str]:
        return {
            "content-type": CONTENT_TYPE,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "correlationid": self.correlationid,
        }


class InvalidEvent(ValueError):
    """A message that is not a valid Budskab event; the reason says why."""


class UnknownEventType(InvalidEvent):
    """A well-formed event of a type this service does not know (e.g. a newer version)."""


class EventRegistry:
    """Maps a versioned type name (`plan.approved.v1`) to its payload model."""

    def __init__(self) -> None:
        self._models: dict[str, type[EventData]] = {}
        self._typed: TypeAdapter[Envelope] | None = None

    def register(self, model: type[EventData]) -> type[EventData]:
        if model.type in self._models:
            raise ValueError(f"event type {model.type} registered twice")
        self._models[model.type] = model
        self._typed = None
        return model

    def model(self, type_name: str) -> type[EventData]:
        try:
            return self._models[type_name]
        except KeyError:
            raise UnknownEventType(f"unknown event type {type_name!r}") from None

    def all(self) -> list[type[EventData]]:
        return sorted(self._models.values(), key=lambda m: m.type)

    def parse(self, raw: bytes) -> tuple[Envelope, EventData]:
        """Validate a raw Kafka value into its envelope and typed payload.

        One pass over the JSON for a valid event of a known type (the envelope's `type` picks
        the payload model); anything else is parsed again in two steps, for the reason."""
        try:
            envelope = self._typed_envelopes().validate_json(raw)
        except ValidationError:
            return self._parse_in_two_steps(raw)
        return envelope, envelope.data  # type: ignore[return-value]

    def _typed_envelopes(self) -> TypeAdapter[Envelope]:
        if self._typed is None:
            typed = tuple(
                create_model(
                    f"{model.__name__}Envelope",
                    __base__=Envelope,
                    type=(Literal[model.type], ...),  # type: ignore[arg-type,valid-type]
                    data=(model, ...),
                )
                for model in self._models.values()
            )
            union = Annotated[Union[typed], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
            self._typed = TypeAdapter(union)  # type: ignore[arg-type]
        return self._typed

    def _parse_in_two_steps(self, raw: bytes) -> tuple[Envelope, EventData]:
        try:
            envelope = Envelope.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(f"invalid envelope: {_describe(exc)}") from None
        try:
            data = self.model(envelope.type).model_validate(envelope.data)
        except ValidationError as exc:
            raise InvalidEvent(f"invalid data for {envelope.type}: {_describe(exc)}") from None
        return envelope, data


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}" for err in exc.errors()
    )


registry = EventRegistry()


def event(model: type[EventData]) -> type[EventData]:
    """Class decorator: put an event model in the registry."""
    return registry.register(model)


def new_envelope(
    data: EventData,
    *,
    source: str,
    subject: str,
    correlation_id: str,
    time: datetime | None = None,
) -> Envelope:
    return Envelope(
        # time-ordered (UUIDv7): every consumer's inbox is keyed by it, and random ids would
        # put each new row on a different index page (a third of the pipeline's throughput)
        id=new_id(),
        time=time or datetime.now(UTC),
        source=source,
        type=data.type,
        subject=subject,
        correlationid=correlation_id,
        data=data.model_dump(mode="json"),
    )
