"""One page of a list endpoint."""

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Items to skip.")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


async def fetch_page(
    session: AsyncSession, query: Select, *, limit: int, offset: int
) -> tuple[list, int]:
    """The rows of one page of `query` (which must be ordered) and the total count."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.scalars(query.limit(limit).offset(offset))
    return list(rows), total or 0


M = TypeVar("M", bound=BaseModel)


async def page_of(
    session: AsyncSession, query: Select, item: type[M], *, limit: int, offset: int
) -> Page[M]:
    """One page of `query` (which must be ordered), each row read as `item`."""
    rows, total = await fetch_page(session, query, limit=limit, offset=offset)
    return Page[item](  # type: ignore[valid-type]
        items=[item.model_validate(row) for row in rows], total=total, limit=limit, offset=offset
    )
