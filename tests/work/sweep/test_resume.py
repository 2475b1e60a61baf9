"""A sweep killed with SIGKILL in the middle of a run resumes with exactly the missing runs
made again, and no half-written video taken as done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from svlab.media import read_video
from svlab.work.sweep import plan_sweep
from svlab.work.sweep.executors import LocalExecutor
from svlab.work.sweep.plan import is_done
from svlab.work.sweep.driver import run_plan

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


class Counting(LocalExecutor):
    def __init__(self):
        super().__init__()
        self.made: list[str] = []

    def run(self, groups, report):
        self.made += [t.key for g in groups for t in g]
        super().run(groups, report)


def kill_mid_run(spec_file, out, timeout: float = 300.0) -> bool:
    """Start the sweep in a real process and SIGKILL it while a run is being published (a
    hidden partial file in runs/) once a run is done, or after three runs; True when it died
    with a partial file on disk."""
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    code = f"import svlab; svlab.sweep({str(spec_file)!r}, {str(out)!r}, progress=False)"
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs, deadline = out / "runs", time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            names = [p.name for p in runs.iterdir()] if runs.is_dir() else []
            done = sum(n.endswith(".json") and not n.startswith(".")
                       and not n.endswith(".metrics.json") for n in names)
            partial = any(n.startswith(".") and ".part" in n for n in names)
            if (partial and done >= 1) or done >= 3:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return partial
            time.sleep(0.002)
        pytest.fail(f"the sweep ended before it could be killed: {proc.stderr.read()[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_killed_sweep_resumes_with_exactly_the_missing_runs(tmp_path, photo_file):
    spec_file = tmp_path / "sweep.json"
    spec_file.write_text(json.dumps({"base": TINY, "inputs": [{"image": str(photo_file)}],
                                     "seeds": 6}))
    out = tmp_path / "out"
    kill_mid_run(spec_file, out)
    plan = plan_sweep(spec_file, out)
    done = {t.key for t in plan.tasks if is_done(t)}
    missing = [t for t in plan.tasks if t.key not in done]
    assert 1 <= len(done) < 6 and missing
    # a half-written video under a run's final name (no manifest) is not a finished run
    (missing[0].video).write_bytes(b"\x00\x00\x00\x18ftypisom half a video")

    resumed = Counting()
    table = run_plan(plan, resumed, progress=False)
    assert sorted(resumed.made) == sorted(t.key for t in missing)
    assert list(table["status"]) == ["done"] * 6
    leftovers = [p.name for p in (out / "runs").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    for task in plan.tasks:
        frames, _ = read_video(task.video)
        assert frames.shape == (4, 64, 64, 3)
