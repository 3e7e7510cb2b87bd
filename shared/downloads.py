"""CSV downloads streamed a page at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.spreadsheets import csv_text

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
ROWS_PER_READ = 5000

# the rows after `after` (None: from the start), at most ROWS_PER_READ, in order, each as
# (its key, its cells): the next read starts after the last key
ReadAfter = Callable[[AsyncSession, Any], Awaitable[Sequence[tuple[Any, Sequence[object]]]]]


def streamed_csv(
    filename: str, header: Sequence[str], sessions: async_sessionmaker, read_after: ReadAfter
) -> StreamingResponse:
    """A CSV download read a page at a time, each page in a short session of its own: a file
    of hundreds of thousands of rows holds neither the event loop nor a database connection
    for as long as its download takes."""

    async def pages() -> AsyncIterator[str]:
        yield csv_text([header])
        after = None
        while rows := await _read(after):
            yield csv_text(cells for _, cells in rows)
            after = rows[-1][0]

    async def _read(after: Any) -> Sequence[tuple[Any, Sequence[object]]]:
        async with sessions() as session:
            return await read_after(session, after)

    return StreamingResponse(
        pages(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
