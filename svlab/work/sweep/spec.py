"""A sweep, as written: a YAML/JSON file or a mapping, read and checked into a `SweepSpec`.

    base:   {profile: cpu-tiny, num_frames: 8}        # settings every run starts from
    inputs: [{image: photo.png}, {prompt: a cat}]     # or {folder: DIR}, or a folder's path
    grid:   {seed: [0, 1], motion_bucket_id: [1, 127, 255]}   # cartesian product
    zip:    {min_guidance_scale: [1, 2], max_guidance_scale: [2, 3]}   # taken together
    runs:   [{model: tiny}, {model: fallback}]        # an explicit list
    seeds:  4                                         # every run repeated with seeds 0..3

Sections combine as a product: every run of `runs` × every grid point × every zip row ×
every seed × every input. Every setting a config takes may vary (`model` and `profile`
included), each in one section only. Paths are relative to the sweep file's folder (to the
current folder for a mapping). Shape mistakes are refused here with one message each; values
are checked when the runs are expanded (`svlab.work.sweep.expand`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from PIL import Image

from svlab.core.config import MAX_SEED, read_config_file, setting_names
from svlab.core.errors import ConfigError, InputError, did_you_mean, require_file
from svlab.core.files import atomic_output
from svlab.media.images import read_image
from svlab.core.bounded import expand_user
from svlab.core.text_caps import check_prompt

SECTIONS = ("base", "inputs", "grid", "zip", "runs", "seeds")
VARYING = ("grid", "zip", "runs", "seeds")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
INPUTS_FOLDER = "inputs"  # where in-memory images of a Python sweep are kept, under DIR


@dataclass(frozen=True)
class SweepInput:
    """One input of a sweep: an image file (absolute) and the hash of its pixels, a prompt,
    or both."""

    image: Path | None = None
    prompt: str | None = None
    pixels_sha256: str | None = None

    @property
    def label(self) -> str:
        """How tables and tiles name the input: the image's file name, else the prompt."""
        return self.image.name if self.image is not None else str(self.prompt)


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep: the base settings, the inputs, and what varies."""

    base: dict[str, Any]
    inputs: tuple[SweepInput, ...]
    grid: dict[str, tuple] = field(default_factory=dict)
    zip: dict[str, tuple] = field(default_factory=dict)
    runs: tuple[dict[str, Any], ...] = ()
    seeds: tuple[int, ...] = ()

    @property
    def varied(self) -> list[str]:
        """The settings the sweep varies, in the order they were written."""
        names = [*self.grid, *self.zip, *(n for run in self.runs for n in run)]
        if self.seeds:
            names.append("seed")
        return list(dict.fromkeys(names))


def load_sweep(source: str | Path | Mapping[str, Any] | SweepSpec, *,
               store: str | Path | None = None) -> SweepSpec:
    """A checked `SweepSpec` from a .yaml/.yml/.json file or a mapping. `store` is the folder
    where in-memory images (PIL images, uint8 arrays: a Python sweep) are saved as PNG files,
    so that every run can be reproduced from its manifest."""
    if isinstance(source, SweepSpec):
        return source
    if isinstance(source, Mapping):
        data, root = dict(source), Path.cwd()
    elif isinstance(source, (str, Path)):
        path = require_file(source, "sweep file")
        data, root = read_config_file(path, "sweep file"), path.resolve().parent
    else:
        raise InputError(f"a sweep is a YAML/JSON file or a mapping, got {type(source).__name__}")
    unknown = [k for k in data if k not in SECTIONS]
    if unknown:
        raise ConfigError(f"unknown sweep section {unknown[0]!r}"
                          f"{did_you_mean(unknown[0], SECTIONS)}; accepted: {', '.join(SECTIONS)}")
    base = _settings(data.get("base") or {}, "base")
    spec = SweepSpec(
        base=base,
        inputs=tuple(_inputs(data.get("inputs"), root, store)),
        grid=_lists(data.get("grid"), "grid"),
        zip=_zip(data.get("zip")),
        runs=_runs(data.get("runs")),
        seeds=_seeds(data.get("seeds")),
    )
    _check_once(spec)
    return spec


def _settings(value: Any, where: str) -> dict[str, Any]:
    """A mapping of setting names (and `profile`) to values; unknown names refused."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping of setting names to values, "
                          f"got {type(value).__name__}")
    accepted = ["profile", *setting_names()]
    for name in value:
        if name not in accepted:
            raise ConfigError(f"{where}: unknown setting {name!r}{did_you_mean(name, accepted)}; "
                              f"accepted: {', '.join(accepted)}")
    return dict(value)


def _lists(value: Any, where: str) -> dict[str, tuple]:
    """Setting name -> a non-empty list of values."""
    if value is None:
        return {}
    settings = _settings(value, where)
    if not settings:
        raise ConfigError(f"{where} is empty; give at least one setting with a list of values")
    lists = {}
    for name, values in settings.items():
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"{where}: {name} must be a list of values, got {values!r} "
                              f"(write [{values!r}] for one value)")
        if not values:
            raise ConfigError(f"{where}: {name} has no values; give at least one")
        lists[name] = tuple(values)
    return lists


def _zip(value: Any) -> dict[str, tuple]:
    lists = _lists(value, "zip")
    lengths = {name: len(values) for name, values in lists.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{n} has {k}" for n, k in lengths.items())
        raise ConfigError(f"zip: the lists are taken together and must have one length; {shown}")
    return lists


def _runs(value: Any) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError("runs must be a non-empty list of mappings of settings, e.g. "
                          "[{model: tiny}, {model: fallback}]")
    return tuple(_settings(run, f"runs[{i}]") for i, run in enumerate(value))


def _seeds(value: Any) -> tuple[int, ...]:
    """`seeds: N` repeats every run with seeds 0..N-1; a list names the seeds."""
    if value is None:
        return ()
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1 or value > MAX_SEED:
            raise ConfigError(f"seeds={str(value)[:40]}: give a number of seeds from 1 to "
                              f"{MAX_SEED} or a list of seeds")
        return range(value)  # not a tuple: counted against the run cap before any is made
    if isinstance(value, (list, tuple)) and value:
        return tuple(value)  # each checked as a config's seed when the runs are expanded
    raise ConfigError(f"seeds must be a number of seeds (>= 1) or a non-empty list of seeds, "
                      f"got {value!r}")


def _check_once(spec: SweepSpec) -> None:
    """Each setting varies in one section only: two sections would fight over its value."""
    where: dict[str, str] = {}
    sections = [("grid", list(spec.grid)), ("zip", list(spec.zip)),
                ("runs", list({n for run in spec.runs for n in run})),
                ("seeds", ["seed"] if spec.seeds else [])]
    for section, names in sections:
        for name in names:
            if name in where:
                raise ConfigError(f"{name} varies in both {where[name]} and {section}; "
                                  "give each setting's values in one section")
            where[name] = section


# -- inputs ---------------------------------------------------------------------------------


def _inputs(value: Any, root: Path, store: str | Path | None) -> list[SweepInput]:
    if value is None or value == []:
        raise InputError("inputs: give at least one {image: PATH}, {prompt: TEXT} or "
                         "{folder: DIR} (or an image's or a folder's path)")
    if isinstance(value, (str, Path)):  # one image file, or a folder of them
        value = [{"image" if (root / expand_user(value, 'inputs')).is_file() else "folder": value}]
    if not isinstance(value, (list, tuple)):
        raise InputError(f"inputs must be a list of {{image: PATH}} / {{prompt: TEXT}} / "
                         f"{{folder: DIR}}, or an image's or a folder's path, got "
                         f"{type(value).__name__}")
    found: list[SweepInput] = []
    for i, item in enumerate(value):
        found.extend(_input(item, f"inputs[{i}]", root, store))
    return found


def _input(item: Any, where: str, root: Path, store) -> list[SweepInput]:
    accepted = ("image", "prompt", "folder")
    if not isinstance(item, Mapping) or not item or any(k not in accepted for k in item):
        raise InputError(f"{where} must be a mapping with image, prompt and/or folder; "
                         f"got {item!r}")
    prompt = item.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise InputError(f"{where}: prompt must be non-empty text, got {prompt!r:.80}")
    check_prompt(prompt, f"{where}: prompt")
    if "folder" in item:
        if "image" in item:
            raise InputError(f"{where}: give an image or a folder, not both")
        return [SweepInput(path, prompt, digest)
                for path, digest in _folder(item["folder"], where, root)]
    image = item.get("image")
    if image is None:
        if prompt is None:
            raise InputError(f"{where}: give an image, a prompt or a folder")
        return [SweepInput(None, prompt)]
    path, digest = _image_file(image, where, root, store)
    return [SweepInput(path, prompt, digest)]


def _image_file(image: Any, where: str, root: Path, store) -> tuple[Path, str]:
    """An absolute path to a readable image and the hash of its pixels; an in-memory image is
    saved under `store`."""
    if isinstance(image, (Image.Image, np.ndarray)):
        return _stored_image(image, where, store)
    if not isinstance(image, (str, Path)):
        raise InputError(f"{where}: image must be a path, a PIL image or a uint8 array, "
                         f"got {type(image).__name__}")
    path = expand_user(image, where)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise InputError(f"{where}: image not found: {path}")
    return path.resolve(), _pixels_hash(path)


def _pixels_hash(path: Path) -> str:
    """The image's content hash; reading it also checks that it is a readable picture of a
    size a model can take."""
    return read_image(path)[1]["pixels_sha256"]


def _stored_image(image: Any, where: str, store) -> tuple[Path, str]:
    if store is None:
        raise InputError(f"{where}: an in-memory image needs the sweep's output folder to be "
                         "saved in; pass out=DIR")
    rgb, described = read_image(image)
    folder = Path(store) / INPUTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    digest = described["pixels_sha256"]
    path = folder / f"{digest[:16]}.png"
    if not path.is_file():  # named by content: the same picture is saved once
        with atomic_output(path) as tmp:
            rgb.save(tmp)
    return path.resolve(), digest


def _folder(folder: Any, where: str, root: Path) -> list[tuple[Path, str]]:
    path = expand_user(str(folder), where)
    path = path if path.is_absolute() else root / path
    if not path.is_dir():
        raise InputError(f"{where}: folder not found: {path}")
    images = sorted(p.resolve() for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise InputError(f"{where}: folder {path} holds no images; accepted: "
                         f"{', '.join(IMAGE_SUFFIXES)}")
    return [(image, _pixels_hash(image)) for image in images]
