"""Sweeps made with the tiny model: the table, resuming, failures, conditioning reuse."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import svlab
from svlab.media import read_video
from svlab.work.sweep import plan_sweep
from svlab.work.sweep.executors import ExecutionOptions, LocalExecutor
from svlab.work.sweep.driver import run_plan

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}
GRID = {"seed": [0, 1], "motion_bucket_id": [1, 255]}


class Counting(LocalExecutor):
    """The local executor, remembering which runs it was given."""

    def __init__(self, options=ExecutionOptions()):
        super().__init__(options)
        self.made: list[str] = []

    def run(self, groups, report):
        self.made += [t.key for g in groups for t in g]
        super().run(groups, report)


def sweep_spec(photo_file, **sections):
    return {"base": TINY, "inputs": [{"image": str(photo_file)}], **sections}


def test_a_sweep_writes_runs_and_a_table_and_resumes_only_what_is_missing(tmp_path, photo_file):
    out = tmp_path / "sweep"
    table = svlab.sweep(sweep_spec(photo_file, grid=GRID), out, progress=False)
    assert list(table["status"]) == ["done"] * 4
    assert list(zip(table["seed"], table["motion_bucket_id"])) == [(0, 1), (0, 255), (1, 1),
                                                                   (1, 255)]
    assert table.attrs["path"] == str(out / "results.csv")
    on_disk = svlab.read_results(out)
    assert list(on_disk["key"]) == list(table["key"])
    assert list(on_disk.columns[:8]) == ["key", "status", "reason", "input", "image", "prompt",
                                         "seed", "motion_bucket_id"]
    for row in table.itertuples():
        manifest = json.loads((out / row.manifest).read_text())
        assert (manifest["seed"], manifest["motion_bucket_id"]) == (row.seed,
                                                                    row.motion_bucket_id)
        assert manifest["inputs"]["image"]["image"] == str(photo_file.resolve())
        assert row.frames == 4 and row.motion_px > 0 and row.flicker > 0
        assert 0 < row.fidelity_ssim < 1 and math.isfinite(row.fidelity_psnr)
        assert row.seconds_denoising > 0 and row.peak_bytes_decoding >= 0
        assert row.engine == "model" and row.seconds > 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        f"{k}{s}" for k in table["key"] for s in (".mp4", ".json", ".metrics.json"))

    again = Counting()
    table2 = run_plan(plan_sweep(sweep_spec(photo_file, grid=GRID), out), again, progress=False)
    assert again.made == []  # all done: nothing made again, the table is the same
    cols = ["key", "status", "motion_px", "fidelity_psnr", "seconds"]
    assert table2[cols].equals(table[cols])

    gone = table["key"][2]
    (out / "runs" / f"{gone}.json").unlink()  # a video without its manifest is not done
    (out / "runs" / f"{gone}.metrics.json").unlink()
    (out / "runs" / f"{table['key'][3]}.metrics.json").unlink()  # done, metrics recomputed
    third = Counting()
    table3 = run_plan(plan_sweep(sweep_spec(photo_file, grid=GRID), out), third, progress=False)
    assert third.made == [gone]
    assert list(table3["status"]) == ["done"] * 4
    assert table3["motion_px"].equals(table["motion_px"])


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, photo_file):
    spec = sweep_spec(photo_file, runs=[{"model": "svd"}, {"model": "tiny"},
                                        {"model": "fallback"}])
    table = svlab.sweep(spec, tmp_path / "s", progress=False)  # svd: no weights here
    assert list(table["model"]) == ["svd", "tiny", "fallback"]
    assert list(table["status"]) == ["failed", "done", "done"]
    assert table["reason"][0].startswith("no weights for model 'svd'")
    assert list(table["engine"][1:]) == ["model", "fallback"]
    assert svlab.read_results(tmp_path / "s")["status"].tolist() == ["failed", "done", "done"]
    retried = Counting()
    run_plan(plan_sweep(spec, tmp_path / "s"), retried, progress=False)
    assert retried.made == [table["key"][0]]  # a failed run is tried again, nothing else
    fallback = svlab.sweep(spec, tmp_path / "s", allow_fallback=True, progress=False)
    assert list(fallback["status"]) == ["done"] * 3 and fallback["engine"][0] == "fallback"


def test_reusing_the_image_conditioning_leaves_the_frames_identical(tmp_path, photo_file):
    grid = {"seed": [0, 1], "motion_bucket_id": [1, 255], "noise_aug_strength": [0.02, 0.1]}
    spec = sweep_spec(photo_file, grid=grid, base={**TINY, "lossless": True})
    reused = svlab.sweep(spec, tmp_path / "reuse", progress=False)
    fresh = svlab.sweep(spec, tmp_path / "fresh", reuse=False, progress=False)
    assert list(reused["key"]) == list(fresh["key"])
    for key in reused["key"]:
        a, _ = read_video(tmp_path / "reuse" / "runs" / f"{key}.mp4")
        b, _ = read_video(tmp_path / "fresh" / "runs" / f"{key}.mp4")
        assert np.array_equal(a, b), key
    assert fresh["reused"].sum() == 0
    # per image: CLIP once; per (seed, noise_aug_strength): the VAE latents once
    assert reused["reused"].sum() == (8 - 1) + (8 - 4)
    first = reused.set_index(["seed", "noise_aug_strength", "motion_bucket_id"])["reused"]
    assert first[(0, 0.02, 1)] == 0 and first[(0, 0.02, 255)] == 2
    assert first[(0, 0.1, 1)] == 1  # other noise: other latents; the same CLIP embedding


def test_the_progress_bar_counts_the_whole_sweep(tmp_path, photo_file, monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    svlab.sweep(sweep_spec(photo_file, runs=[{"model": "fallback"}, {"model": "svd"}]),
                tmp_path / "s")
    err = capsys.readouterr().err
    assert "sweep: 100%" in err and "2/2" in err
    assert "done=1, failed=1, left=0" in err


def test_one_sweep_at_a_time_in_a_folder(tmp_path, photo_file):
    from svlab.core.errors import InputError
    from svlab.work.sweep.plan import sweep_lock

    with sweep_lock(tmp_path / "s"):
        with pytest.raises(InputError, match="another sweep is running in"):
            svlab.sweep(sweep_spec(photo_file), tmp_path / "s", progress=False)


@pytest.mark.parametrize("model", ["tiny-ltx", "tiny-wan", "tiny-cogvideox"])
def test_every_family_reuses_its_conditioning_with_identical_frames(tmp_path, photo_file, model):
    """Each family declares its conditioning steps (`Family.conditioning`); a sweep of one
    image and prompt over seeds encodes the prompt (and Wan2.1's CLIP image) once."""
    from svlab.models import family_of

    assert family_of(svlab.get_spec(model)).conditioning
    spec = {"base": {"profile": "cpu-tiny", "model": model, "num_inference_steps": 2,
                     "lossless": True},
            "inputs": [{"image": str(photo_file), "prompt": "a red square"}],
            "grid": {"seed": [0, 1, 2]}}
    reused = svlab.sweep(spec, tmp_path / "reuse", progress=False)
    fresh = svlab.sweep(spec, tmp_path / "fresh", reuse=False, progress=False)
    assert list(reused["status"]) == ["done"] * 3, list(reused["reason"])
    for key in reused["key"]:
        a, _ = read_video(tmp_path / "reuse" / "runs" / f"{key}.mp4")
        b, _ = read_video(tmp_path / "fresh" / "runs" / f"{key}.mp4")
        assert np.array_equal(a, b), key
    assert fresh["reused"].sum() == 0
    assert reused["reused"].iloc[0] == 0 and (reused["reused"].iloc[1:] > 0).all()
