"""Segments: an audience's contacts chosen by rules over their attributes ("kommune is
Aarhus", "rolle one of jobcenterchef, leder"), all of which must hold. A segment is a query,
not a copy: a send to it takes whoever matches when it is fanned out.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator
from sqlalchemy import ColumnElement, and_, or_, select

from services.notifications.domain import SendStatus
from services.notifications.tables import AudienceMember, Contact, Segment, Send
from shared.errors import Conflict, NotFound
from shared.ids import new_id
from shared.schemas import ApiInput, SingleLine
from shared.uow import UnitOfWork

# plain ASCII (JSON paths on SQLite find no key written with escapes, as æ is)
AttributeName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,40}$")]
_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa"})


def attribute_name(title: str) -> str:
    """A CSV header made an attribute's name: "Område" → omraade, "Post nr." → post_nr."""
    plain = title.strip().lower().translate(_DANISH)
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")[:40]


AttributeValue = Annotated[SingleLine, Field(max_length=200)]


class Rule(ApiInput):
    """`is` / `is_not` a `value`, `one_of` some `values`, or `present` / `absent`."""

    attribute: AttributeName
    operator: Literal["is", "is_not", "one_of", "present", "absent"]
    value: AttributeValue | None = None
    values: list[AttributeValue] | None = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _operands(self) -> Rule:
        wanted = {"is": "value", "is_not": "value", "one_of": "values"}.get(self.operator)
        given = [name for name in ("value", "values") if getattr(self, name) is not None]
        if given != ([wanted] if wanted else []):
            needs = f"a `{wanted}`" if wanted else "neither value nor values"
            raise ValueError(f"the operator {self.operator} takes {needs}")
        return self


def condition(rule: Rule) -> ColumnElement[bool]:
    field = Contact.attributes[rule.attribute].as_string()
    match rule.operator:
        case "is":
            return field == rule.value
        case "is_not":
            return or_(field.is_(None), field != rule.value)
        case "one_of":
            return field.in_(rule.values or [])
        case "present":
            return field.is_not(None)
        case "absent":
            return field.is_(None)


def members(segment: Segment) -> ColumnElement[bool]:
    """Which contacts the segment holds, as a condition on `contacts`."""
    in_audience = Contact.id.in_(
        select(AudienceMember.contact_id).where(AudienceMember.audience_id == segment.audience_id)
    )
    return and_(in_audience, *(condition(Rule.model_validate(rule)) for rule in segment.rules))


async def create(uow: UnitOfWork, *, name: str, audience_id: str, rules: list[Rule]) -> Segment:
    segment = Segment(
        id=new_id(),
        name=name,
        audience_id=audience_id,
        rules=[rule.model_dump(exclude_none=True) for rule in rules],
        created_at=uow.now(),
    )
    uow.session.add(segment)
    return segment


async def get(uow: UnitOfWork, segment_id: str, *, lock: bool = False) -> Segment:
    """The segment; `lock`: its row, so that a send to it and its deletion take turns."""
    segment = await uow.session.get(Segment, segment_id, with_for_update=lock)
    if segment is None:
        raise NotFound(f"no segment with id {segment_id}")
    return segment


async def delete(uow: UnitOfWork, segment_id: str) -> None:
    """A segment a send still waits to go to cannot go (that send would reach nobody)."""
    segment = await get(uow, segment_id, lock=True)
    waiting = await uow.session.scalar(
        select(Send.id)
        .where(
            Send.segment_id == segment_id,
            Send.fanned_out.is_(False),
            Send.status.in_((SendStatus.SCHEDULED, SendStatus.SENDING)),
        )
        .limit(1)
    )
    if waiting is not None:
        raise Conflict(f"the send {waiting} still goes to this segment: cancel it first")
    await uow.session.delete(segment)
