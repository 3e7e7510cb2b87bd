"""CSV text for people who open it in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence


def spreadsheet_text(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab or CR) would
    run as a formula (CSV injection), so it gets a leading apostrophe."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()
