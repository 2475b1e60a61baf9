"""`svlab.runs()`: the run index (`svlab.core.run_index`) as a table to filter, sort and plot
in a notebook, one row per video with its settings as columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from svlab.core.run_index import find


def runs(*, model: str | None = None, since: str | datetime | None = None,
         where: Mapping[str, Any] | None = None):
    """The recorded runs, oldest first, as a pandas DataFrame (a list of dicts when pandas is
    not installed). Filters as `svlab runs`: `model`, `since` (ISO date or time), `where`
    (`{"seed": 3}`); a deleted video's row has status "missing"."""
    where = {k: str(v) for k, v in (where or {}).items()}
    rows = [run.to_dict() for run in find(model=model, since=since, where=where)]
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)
