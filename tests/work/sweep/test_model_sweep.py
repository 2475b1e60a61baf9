"""A sweep whose grid varies `model` across families: each run made by the model it names,
with that model's own defaults (size, frames) under the sweep's base."""

from __future__ import annotations

import json

import svlab


def test_a_sweep_varies_the_model_across_families(tmp_path, photo_file):
    spec = {"base": {"profile": "cpu-tiny", "num_inference_steps": 2},
            "inputs": [{"image": str(photo_file), "prompt": "a red square"}],
            "grid": {"model": ["tiny", "tiny-ltx", "tiny-wan", "tiny-cogvideox"]}}
    table = svlab.sweep(spec, tmp_path / "sweep", progress=False)
    assert list(table["status"]) == ["done"] * 4, list(table["reason"])
    assert list(table["model"]) == ["tiny", "tiny-ltx", "tiny-wan", "tiny-cogvideox"]
    for row in table.itertuples():
        manifest = json.loads((tmp_path / "sweep" / row.manifest).read_text())
        assert manifest["engine"] == "model"
        assert manifest["model_info"]["model"] == row.model
        assert manifest["model_info"]["family"] == svlab.get_spec(row.model).family
    frames = dict(zip(table["model"], table["frames"]))
    assert frames["tiny-ltx"] == 9 and frames["tiny-wan"] == 9  # their own default frames
