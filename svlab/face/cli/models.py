"""`svlab models` (the registry, and whether each model's weights are here) and
`svlab tiny-model DIR` (write the tiny random-weight checkpoint)."""

from __future__ import annotations

import argparse

from svlab.face.cli.common import add_json_flag, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list known models and whether their weights are here",
                       description="List the model registry and, for each model, where its "
                                   "weights were found (SVLAB_MODELS_DIR, the Hugging Face "
                                   "cache) or why not, and its predicted peak GPU memory at "
                                   "its default settings (nothing offloaded; `svlab plan` for "
                                   "others). Never downloads.")
    p.add_argument("--no-peaks", action="store_true",
                   help="skip the memory plans (a plan of every model takes seconds each)")
    add_json_flag(p)
    p.set_defaults(func=run_models)

    p = sub.add_parser("tiny-model", help="write a tiny random-weight checkpoint to DIR",
                       description="Write a deterministic tiny random-weight checkpoint in the "
                                   "diffusers folder layout (save_pretrained). Nothing is "
                                   "downloaded.")
    p.add_argument("dir", metavar="DIR", help="a new or empty folder")
    p.add_argument("--model", default="tiny", help="which tiny model (default: tiny, the "
                                                   "Stable Video Diffusion one)")
    add_json_flag(p)
    p.set_defaults(func=run_tiny_model)


def run_models(args: argparse.Namespace) -> int:
    from svlab.core.config import VideoConfig
    from svlab.core.errors import ModelUnavailableError
    from svlab.memory.fit import default_plan
    from svlab.models import choose_model, list_specs, models_dir, resolve_model
    from svlab.models.resolve import hf_cache_dir

    rows = []
    for spec in list_specs():
        row = spec.to_dict() | {"available": False, "path": None, "found_in": None,
                                "revision": None, "reason": None}
        local = models_dir() / spec.id
        if spec.hub_id is None and spec.weights is None and not (local / "model_index.json").is_file():
            row.update(available=True, reason=f"built into {local} on first use")
        else:
            try:
                resolved = resolve_model(spec.id, download=False)
                row.update(available=True, path=str(resolved.path), found_in=resolved.found_in,
                           revision=resolved.revision)
            except ModelUnavailableError as e:
                row["reason"] = str(e)
        if not args.no_peaks:
            plan = default_plan(spec.id)
            row.update(peak_bytes=plan["peak_bytes"], peak_stage=plan["peak_stage"],
                       params=plan["params"])
        rows.append(row)
    auto, reason = choose_model(VideoConfig())
    if args.json:
        print_json({"models": rows, "models_dir": str(models_dir()),
                    "hf_cache": str(hf_cache_dir()), "auto": {"model": auto, "reason": reason}})
        return 0
    for row in rows:
        where = row["path"] or ("built on first use" if row["available"] else "not found")
        peak = f"{row['peak_bytes'] / 2**30:6.2f} GiB" if "peak_bytes" in row else ""
        print(f"{row['id']:<20} {row['num_frames']:>3} frames {row['height']}x{row['width']:<5}"
              f" {peak}  {'yes' if row['available'] else 'no ':<3}  {where}")
    print(f"model=auto -> {auto} ({reason})")
    return 0


def run_tiny_model(args: argparse.Namespace) -> int:
    from svlab.models import write_tiny_model

    path = write_tiny_model(args.dir, args.model)
    if args.json:
        print_json({"path": str(path), "model": args.model})
    else:
        print(path)
    return 0
