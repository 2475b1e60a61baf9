"""Runs side by side: the finished runs of a sweep folder, or any videos named by their
manifests, chosen (`where`), ordered and labelled by settings (`by`), as one grid video and one
contact sheet.

    svlab.compare("sweeps/motion", by=["seed", "motion_bucket_id"])
    # sweeps/motion/compare.mp4: a row per seed, a column per motion_bucket_id
    # sweeps/motion/compare.png: a row per run, a column per sampled frame
    svlab.compare(["outputs/a.json", "outputs/b.json"], "grid.mp4")  # any two runs
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from svlab.core.config import setting_names
from svlab.core.errors import InputError, did_you_mean
from svlab.core.manifest import manifest_path
from svlab.media.grid import contact_sheet, side_by_side
from svlab.work.sweep.results import read_results
from svlab.core.bounded import MAX_MANIFEST_BYTES, load_structured
from svlab.core.overlap import refuse_overlap, same_path
from svlab.work.sweep.plan import RESULTS_FILE

LABELLED = ("profile", *setting_names())


@dataclass
class Comparison:
    """What `compare` wrote, and which runs (keys, in tile order) with which labels."""

    video: Path
    sheet: Path
    keys: list[str]
    labels: list[str]
    layout: dict[str, Any] = field(default_factory=dict)


def compare(sweep: str | Path | Sequence[str | Path], out: str | Path | None = None, *,
            by: Sequence[str] | None = None, where: Sequence[str] = (),
            sheet: str | Path | None = None, columns: int | None = None,
            tile_width: int | None = None, frames: int = 8) -> Comparison:
    """The finished runs of the sweep folder `sweep`, or the videos of the manifests `sweep`
    lists (`X.json`, or `X.mp4` for its manifest), side by side in `out` (default
    compare.mp4 in the sweep's folder or the first manifest's) and as a contact sheet
    (`sheet`, default `out` with .png).

    `by` names the settings each tile is ordered by and labelled with (default: the settings
    the sweep varies); with two or more, the grid has a column per value of the last one. Where
    two tiles would carry the same label, the other settings that differ among the tiles shown
    are added to the labels, so that every tile's label tells it apart from the others.
    `where` keeps the runs whose setting has a value ("seed=3")."""
    sources = [Path(sweep)] if isinstance(sweep, (str, Path)) else [Path(p) for p in sweep]
    if len(sources) == 1 and sources[0].is_dir():
        folder = sources[0]
        rows, varied = _finished(folder)
        guarded = [folder / RESULTS_FILE]
    else:
        rows, varied = _from_manifests(sources)
        folder, guarded = sources[0].parent, []
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
    if out.suffix.lower() != ".mp4" or sheet.suffix.lower() != ".png":
        raise InputError(f"the grid must end in .mp4 and the sheet in .png; got {str(out)!r} "
                         f"and {str(sheet)!r}")
    videos = [r["video"] for r in chosen]
    refuse_overlap([out, sheet], [*guarded, *(r["video"] for r in rows),
                                  *(r["manifest"] for r in rows),
                                  *(r["image"] for r in rows)])
    if same_path(out, sheet):
        raise InputError(f"the grid and the sheet are one file {str(out)!r}; give two names")
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
        video = _inside(folder, row["video"], "video")
        manifest = _inside(folder, row["manifest"], "manifest")
        if not (video.is_file() and manifest.is_file()):
            continue
        recorded = load_structured(manifest, "manifest", max_bytes=MAX_MANIFEST_BYTES,
                                   kind="json")
        if not isinstance(recorded, dict):
            raise InputError(f"manifest {manifest} is not an svlab video manifest")
        settings = {n: recorded.get(n) for n in setting_names()}
        if "profile" in table.columns:
            settings["profile"] = row["profile"]
        image = row.get("image")
        rows.append({"key": str(row["key"]), "input": str(row["input"]), "video": video,
                     "manifest": manifest, "settings": settings,
                     "image": image if isinstance(image, str) and image else None})
    if not rows:
        raise InputError(f"no finished run in {folder} to compare: run the sweep first")
    return rows, [c for c in table.columns if c in LABELLED]


def _from_manifests(paths: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """A run per manifest (a video names its manifest beside it), with its video beside it;
    and the settings that differ among them."""
    if not paths:
        raise InputError("nothing to compare; accepted: a sweep folder or manifests (X.json)")
    rows = []
    for path in paths:
        manifest = manifest_path(path) if path.suffix.lower() == ".mp4" else path
        if manifest.suffix.lower() != ".json" or not manifest.is_file():
            raise InputError(f"{str(path)!r} is neither a sweep folder nor a manifest; "
                             "accepted: a sweep folder, or manifests X.json (or X.mp4)")
        recorded = load_structured(manifest, "manifest", max_bytes=MAX_MANIFEST_BYTES,
                                   kind="json")
        output = recorded.get("output") if isinstance(recorded, dict) else None
        if not isinstance(output, dict) or not isinstance(output.get("video"), str):
            raise InputError(f"manifest {manifest} is not an svlab video manifest")
        video = manifest.with_name(Path(output["video"]).name).resolve()
        if not video.is_file():
            raise InputError(f"the video of {manifest} is missing: {video}")
        inputs = recorded.get("inputs") if isinstance(recorded.get("inputs"), dict) else {}
        image = inputs.get("image") if isinstance(inputs.get("image"), dict) else {}
        source = image.get("image")
        rows.append({"key": manifest.stem,
                     "input": str(image.get("name") or source or inputs.get("prompt") or ""),
                     "video": video, "manifest": manifest.resolve(),
                     "settings": {n: recorded.get(n) for n in setting_names()},
                     "image": source if isinstance(source, str) and source else None})
    varied = [n for n in LABELLED if len({repr(r["settings"].get(n)) for r in rows}) > 1]
    return rows, varied


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


def _inside(folder: Path, cell: Any, column: str) -> Path:
    """A table cell naming a file of the sweep: an absolute path under the sweep's folder
    (so that ffmpeg only ever opens a local file svlab checked, never a URL or a device)."""
    if not isinstance(cell, str) or not cell or "\0" in cell:
        raise InputError(f"{folder / RESULTS_FILE}: a {column} cell is {str(cell)[:80]!r}; "
                         "accepted: a path under the sweep's folder")
    root = folder.resolve()
    path = (root / cell).resolve()
    if root not in path.parents:
        raise InputError(f"{folder / RESULTS_FILE}: {column} {cell[:80]!r} lies outside the "
                         f"sweep's folder {folder}; accepted: paths under it")
    return path


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
