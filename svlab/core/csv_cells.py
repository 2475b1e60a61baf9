"""Tables svlab writes as CSV are opened in spreadsheets: a text cell that starts with `=`, `+`,
`-`, `@`, a tab or a carriage return would be read there as a formula (CSV injection). Such a
cell is written with a leading `'` (OWASP's advice); numbers, and text that reads as a number
("-3", "+1e-4"), are left as they are. Reading the table back removes that quote again."""

from __future__ import annotations

import math
from typing import Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def neutralise_cell(value: Any) -> Any:
    """`value` as it may sit in a spreadsheet cell."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _is_number(value):
        return QUOTE + value
    return value


def restore_cell(value: Any) -> Any:
    """The value `neutralise_cell` was given."""
    if isinstance(value, str) and value.startswith(QUOTE) and value[1:].startswith(TRIGGERS) \
            and not _is_number(value[1:]):
        return value[1:]
    return value


def _textual(column) -> bool:
    from pandas.api.types import is_object_dtype, is_string_dtype

    return is_object_dtype(column.dtype) or is_string_dtype(column.dtype)


def neutralise_frame(frame):
    """A copy of the DataFrame with every text cell (and column name) neutralised."""
    out = frame.copy()
    for column in out.columns:
        if _textual(out[column]):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(c) for c in out.columns]
    return out


def restore_frame(frame):
    """The DataFrame as it was before `neutralise_frame` (in place; returned)."""
    for column in frame.columns:
        if _textual(frame[column]):
            frame[column] = frame[column].map(restore_cell)
    frame.columns = [restore_cell(c) for c in frame.columns]
    return frame
