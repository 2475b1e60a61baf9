"""A sweep's runs side by side: the finished runs of a sweep folder, chosen (`where`), ordered
and labelled by settings (`by`), as one grid video and one contact sheet.

    svlab.compare("sweeps/motion", by=["seed", "motion_bucket_id"])
    # sweeps/motion/compare.mp4: a row per seed, a column per motion_bucket_id
    # sweeps/motion/compare.png: a row per run, a column per sampled frame
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from svlab.core.config import setting_names
from svlab.core.errors import InputError, did_you_mean
from svlab.media.grid import contact_sheet, side_by_side
from svlab.work.sweep.results import read_results

LABELLED = ("profile", *setting_names())


@dataclass
class Comparison:
    """What `compare` wrote, and which runs (keys, in tile order) with which labels."""

    video: Path
    sheet: Path
    keys: list[str]
    labels: list[str]
    layout: dict[str, Any] = field(default_factory=dict)


def compare(sweep: str | Path, out: str | Path | None = None, *,
            by: Sequence[str] | None = None, where: Sequence[str] = (),
            sheet: str | Path | None = None, columns: int | None = None,
            tile_width: int | None = None, frames: int = 8) -> Comparison:
    """The finished runs of the sweep folder `sweep` side by side in `out` (default
    SWEEP/compare.mp4) and as a contact sheet (`sheet`, default `out` with .png).

    `by` names the settings each tile is ordered by and labelled with (default: the settings
    the sweep varies); with two or more, the grid has a column per value of the last one. Where
    two tiles would carry the same label, the other settings that differ among the tiles shown
    are added to the labels, so that every tile's label tells it apart from the others.
    `where` keeps the runs whose setting has a value ("seed=3")."""
    folder = Path(sweep)
    rows, varied = _finished(folder)
    names = list(by) if by else varied
    for name in names:
        if name not in LABELLED:
            raise InputError(f"unknown setting {name!r}{did_you_mean(name, LABELLED)} to "
                             f"compare by; accepted: {', '.join(LABELLED)}")
    chosen = [r for r in rows if all(_matches(r, clause) for clause in where)]
    if not chosen:
        raise InputError(f"no finished run in {folder} matches {' and '.join(where)}")
    chosen.sort(key=lambda r: (*(_sortable(r["settings"].get(n)) for n in names), r["input"]))
    inputs = {r["input"] for r in chosen}
    shown = names + _telling_apart(chosen, names)
    labels = ["\n".join(([r["input"]] if len(inputs) > 1 else [])
                        + [f"{n}={_shown(r['settings'].get(n))}" for n in shown]) or r["key"]
              for r in chosen]
    if len(set(labels)) < len(labels):  # same settings and input: only the key tells them apart
        labels = [f"{label}\n{r['key']}" for label, r in zip(labels, chosen)]
    if columns is None and len(names) >= 2:
        columns = len({repr(r["settings"].get(names[-1])) for r in chosen})
    out = Path(out) if out is not None else folder / "compare.mp4"
    sheet = Path(sheet) if sheet is not None else out.with_suffix(".png")
    videos = [r["video"] for r in chosen]
    layout = side_by_side(videos, labels, out, columns=columns, tile_width=tile_width)
    contact_sheet(videos, labels, sheet, frames=frames)
    return Comparison(out, sheet, [r["key"] for r in chosen], labels, layout)


def _finished(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The done runs of the sweep whose video is in place, with every setting from their
    manifest (so any setting can label a tile, varied or not); and the varied settings (the
    table's setting columns)."""
    table = read_results(folder)
    rows = []
    for _, row in table[table["status"] == "done"].iterrows():
        video = folder / row["video"]
        manifest = folder / row["manifest"]
        if not (video.is_file() and manifest.is_file()):
            continue
        recorded = json.loads(manifest.read_text(encoding="utf-8"))
        settings = {n: recorded.get(n) for n in setting_names()}
        if "profile" in table.columns:
            settings["profile"] = row["profile"]
        rows.append({"key": row["key"], "input": row["input"], "video": video,
                     "settings": settings})
    if not rows:
        raise InputError(f"no finished run in {folder} to compare: run the sweep first")
    return rows, [c for c in table.columns if c in LABELLED]


def _telling_apart(rows: list[dict[str, Any]], names: list[str]) -> list[str]:
    """Settings beyond `names` that differ among `rows`, added one at a time (in setting
    order, the one that separates most tiles first) until no two rows look the same."""
    def groups(columns: list[str]) -> int:
        return len({(r["input"], *(repr(r["settings"].get(n)) for n in columns)) for r in rows})

    differing = [n for n in LABELLED if n not in names
                 and len({repr(r["settings"].get(n)) for r in rows}) > 1]
    added: list[str] = []
    while groups(names + added) < len(rows) and differing:
        best = max(differing, key=lambda n: groups(names + added + [n]))
        if groups(names + added + [best]) == groups(names + added):
            break
        added.append(best)
        differing.remove(best)
    return added


def _matches(row: dict[str, Any], clause: str) -> bool:
    name, sep, value = clause.partition("=")
    name = name.strip()
    if not sep or name not in LABELLED:
        raise InputError(f"cannot read the filter {clause!r}; accepted: SETTING=VALUE with a "
                         f"setting name{did_you_mean(name, LABELLED)}, e.g. seed=3")
    return _shown(row["settings"].get(name)) == value.strip() or \
        str(row["settings"].get(name)) == value.strip()


def _shown(value: Any) -> str:
    """A value as a label shows it: 2.0 as 2, text as is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sortable(value: Any) -> tuple:
    """Numbers by value, then text; None first."""
    if value is None:
        return (0, 0, "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))
