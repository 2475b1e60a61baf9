"""What a Ray worker and the driver do with a run's files, without Ray: a worker that cannot
see the driver's image makes the run from the bytes sent to it, and the driver publishes what
comes back as a local run would be published."""

from __future__ import annotations

import hashlib
import json

import numpy as np

import svlab
from svlab.work.distributed import JobOutcome, LostAttempt, WorkerInfo
from svlab.media import read_video
from svlab.work.sweep import plan_sweep
from svlab.work.sweep.executors import ExecutionOptions
from svlab.work.sweep.ray_executor import ImageInput, make_run, publish

TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


def test_a_run_made_without_the_drivers_files_is_published_as_the_driver_sees_it(
        tmp_path, photo_file):
    spec = {"base": TINY, "inputs": [{"image": str(photo_file)}], "seeds": [3]}
    local = svlab.sweep(spec, tmp_path / "local", progress=False)
    task = plan_sweep(spec, tmp_path / "out").tasks[0]
    assert task.key == local["key"][0]

    data = photo_file.read_bytes()
    photo_file.unlink()  # the worker's machine has no file at the driver's path
    shipped = ImageInput(task.input.image, hashlib.sha256(data).hexdigest())
    output = make_run({}, task, ExecutionOptions(), shipped, data)
    assert output.result.status == "done", output.result.reason
    assert sorted(output.files) == [".json", ".metrics.json", ".mp4"]
    assert not task.video.exists()  # the worker wrote nothing into the sweep's folder

    worker = WorkerInfo("w1", "10.0.0.9", "node-b", 4242, gpus=("0",), threads=1)
    lost = [LostAttempt("w0", "10.0.0.8", 4141, "ActorDiedError: killed")]
    result = publish(task, JobOutcome(task.key, value=output, worker=worker, lost=lost))
    assert result.status == "done" and result.metrics is not None

    manifest = json.loads(task.manifest.read_text())
    recorded = json.loads((tmp_path / "local" / "runs" / f"{task.key}.json").read_text())
    assert manifest["inputs"] == recorded["inputs"]  # the driver's path, not the worker's copy
    assert manifest["execution"]["worker"] == "w1" and manifest["execution"]["attempts"] == 2
    assert manifest["execution"]["lost_workers"][0]["pid"] == 4141
    ours, _ = read_video(task.video)
    theirs, _ = read_video(tmp_path / "local" / "runs" / f"{task.key}.mp4")
    np.testing.assert_array_equal(ours, theirs)
    assert sorted(p.name for p in task.video.parent.iterdir()) == sorted(
        f"{task.key}{s}" for s in (".json", ".metrics.json", ".mp4"))
