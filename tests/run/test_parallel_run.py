"""One video over two processes (gloo on this CPU): the same frames as one process, one clear
reason and no process left when a rank dies, and settings refused before anything runs."""

from __future__ import annotations

import os
import signal

import numpy as np
import psutil
import pytest

import svlab
from svlab.core.errors import ConfigError
from svlab.run import parallel_run as parallel
from svlab.run.settings import load_config

TINY = {"profile": "cpu-tiny", "num_inference_steps": 2, "num_frames": 9}


def ranks() -> list[psutil.Process]:
    """This process's spawned ranks (not multiprocessing's resource tracker)."""
    return [p for p in psutil.Process().children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())]


@pytest.mark.parametrize("model", ["tiny-wan"])  # not LTX-Video yet: see svlab/models/ltx.py
def test_two_processes_make_the_frames_of_one(model, photo_file, tmp_path):
    one = svlab.generate(image=photo_file, prompt="a red square", config=TINY, model=model,
                         out=tmp_path / "one.mp4")
    two = svlab.generate(image=photo_file, prompt="a red square", config=TINY, model=model,
                         gpus=2, out=tmp_path / "two.mp4")
    assert np.array_equal(one.frames, two.frames)
    assert (one.manifest["world_size"], two.manifest["world_size"]) == (1, 2)
    assert two.manifest["parallel"] == {"world_size": 2, "ulysses_degree": 2, "backend": "gloo",
                                        "method": "context parallelism (Ulysses)"}
    assert two.manifest["gpus"] == 2 and not ranks()


@pytest.mark.slow
def test_a_killed_rank_ends_the_run_with_its_reason(photo_file, tmp_path, monkeypatch):
    # bounded, yet above a rank's start-up (imports and model load) on a loaded 2-core machine
    monkeypatch.setattr(parallel, "COLLECTIVE_TIMEOUT_S", 120.0)

    def kill_rank_1(event):
        if event.get("stage") == "denoising" and event["step"] == 1:
            (rank,) = ranks()
            os.kill(rank.pid, signal.SIGKILL)

    out = tmp_path / "clip.mp4"
    with pytest.raises(parallel.RankFailedError,
                       match=r"^rank 1 of 2 was killed by SIGKILL; the run was stopped"):
        svlab.generate(image=photo_file, prompt="a red square", config=TINY, model="tiny-wan",
                       gpus=2, out=out, callback=kill_rank_1)
    assert not ranks()
    assert list(tmp_path.iterdir()) == [photo_file]  # nothing written, not even in part


@pytest.mark.parametrize("settings, message", [
    ({"gpus": 0}, r"^gpus=0 is out of range; accepted: from 1 to 64$"),
    ({"model": "tiny-ltx", "gpus": 2},
     r"^gpus=2 splits one video with context parallelism, which svlab runs for the families "
     r"wan only, not tiny-ltx \(ltx\); accepted: gpus=1, or a model of those families$"),
    ({"model": "tiny-wan", "gpus": 4}, r"^gpus=4 cannot split the 2 attention heads of "
                                      r"tiny-wan evenly; accepted: a divisor of 2$"),
    ({"model": "tiny-wan", "gpus": 2, "width": 16, "height": 16, "num_frames": 1},
     r"^gpus=2 cannot split the 1 video tokens of tiny-wan at 16x16, 1 frames evenly"),
])
def test_a_layout_diffusers_would_refuse_is_refused_at_once(settings, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cpu-tiny", settings)
