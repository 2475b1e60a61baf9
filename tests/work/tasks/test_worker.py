"""The worker and its runner process: tasks run to a published result; a cancellation stops a
run within seconds at any stage: at the next progress event where there is one (keyframes,
interpolation and encoding report every frame), and by killing the runner and starting a fresh
one where there is none (a slow model step); a dead runner fails its task and the next task
runs; stopping the worker puts the running task back in the queue."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
from PIL import Image
from servers import alive, children_of

from svlab.run.settings import load_config
from svlab.media import probe
from svlab.work.tasks import TaskStore, Worker
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.recipe import task_config

FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)
CANCEL_SECONDS = 6.0  # the grace period (2 s) plus polling, on a busy 2-core machine
# Image tasks that spend many seconds in one stage: 32 frames of a pan over noise, 16 times
# more after interpolation; optical flow is slow to compute, and blended noise slow to encode.
INTERPOLATING = {"width": 256, "height": 256, "num_frames": 32, "interpolation": "flow",
                 "interpolation_factor": 16}
ENCODING = {"width": 384, "height": 384, "num_frames": 32, "interpolation": "blend",
            "interpolation_factor": 16}
# A model step with no callback for many seconds: the tiny model's attention at 320x320 over
# 16 frames (one step takes several times the grace period on two cores).
SLOW_STEP = {"model": "tiny", "width": 320, "height": 320, "num_frames": 16,
             "num_inference_steps": 2}


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    data = DataFolder.create(tmp_path_factory.mktemp("worker") / "data")
    noise = np.random.default_rng(0).integers(0, 256, (384, 384, 3), dtype=np.uint8)
    Image.fromarray(noise).save(data.uploads / "noise.png")
    big = np.random.default_rng(1).integers(0, 256, (2500, 2500, 3), dtype=np.uint8)
    Image.fromarray(big).save(data.inputs / "big.png", compress_level=1)
    worker = Worker(TaskStore(data.database), data, load_config("cpu-tiny", overrides=FAST),
                    task_timeout=300, preload=False)
    worker.start()
    yield worker
    worker.stop()


def _submit(worker, request):
    task = worker.store.create(request)
    worker.wake()
    return task["id"]


def _wait(worker, task_id, until=("succeeded", "failed", "cancelled"), timeout=120):
    deadline = time.monotonic() + timeout
    while (task := worker.store.get(task_id))["status"] not in until:
        assert time.monotonic() < deadline, task
        time.sleep(0.02)
    return task


def _wait_for(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _cancel(worker, task_id):
    """What DELETE does; returns how long the task took to end."""
    start = time.monotonic()
    worker.store.request_cancel(task_id)
    worker.cancel(task_id)
    task = _wait(worker, task_id)
    return task, time.monotonic() - start


def _staged(worker, task_id):
    """Files the run of `task_id` has in its staging folder (any depth)."""
    return [p for s in worker.data.videos.glob(f".{task_id}.*.staging") for p in s.rglob("*")
            if p.is_file()]


def _assert_clean(worker, task_id):
    assert not worker.data.result(task_id).exists()
    assert not [p for p in worker.data.videos.iterdir() if p.name.startswith(".")]


def test_runs_a_prompt(worker):
    task_id = _submit(worker, {"prompt": "清晨。黄昏。", "settings": {"seed": 3}})
    done = _wait(worker, task_id)
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == {"stage": "done", "fraction": 1.0}
    video = worker.data.video(task_id)
    assert probe(video)["frames"] == 12
    assert done["manifest"] == json.loads(video.with_suffix(".json").read_text("utf-8"))
    assert done["manifest"]["seed"] == 3
    assert sorted(p.name for p in video.parent.iterdir()) == sorted(
        f"{task_id}{s}" for s in (".json", ".mp4", ".srt", ".vtt"))
    assert not [p for p in worker.data.videos.iterdir() if p.name.startswith(".")]


def test_any_registered_model_runs_as_a_task(worker):
    """An image task and a storyboard task, each naming a transformer family's tiny model:
    the model makes the frames (no fallback), and the manifest says which."""
    image_task = _submit(worker, {"prompt": "a dog runs", "image": "uploads/noise.png",
                                  "settings": {"model": "tiny-wan", "num_frames": 5,
                                               "num_inference_steps": 2}})
    board_task = _submit(worker, {"storyboard": {
        "settings": {"model": "tiny-ltx", "num_frames": 9, "num_inference_steps": 2},
        "scenes": [{"text": "清晨", "image": "big.png"}]}})
    for task_id, model in ((image_task, "tiny-wan"), (board_task, "tiny-ltx")):
        done = _wait(worker, task_id, timeout=300)
        assert done["status"] == "succeeded", done["error"]
        manifest = done["manifest"]
        clip = manifest["scenes"][0] if "scenes" in manifest else manifest
        assert clip["engine"] == "model" and clip["model_info"]["model"] == model, clip


def test_cancel_at_keyframes(worker):
    scenes = [{"text": f"第{i}幕", "image": "big.png"} for i in range(30)]
    task_id = _submit(worker, {"storyboard": {"scenes": scenes}})
    _wait_for(lambda: (p := worker.store.get(task_id)["progress"]) and
              p["stage"] == "keyframe" and p["scene"] >= 2, "the keyframe stage")
    task, seconds = _cancel(worker, task_id)
    assert task["status"] == "cancelled" and seconds < CANCEL_SECONDS
    assert task["progress"]["stage"] == "keyframe"
    _assert_clean(worker, task_id)


def _runner_pid(worker):
    _wait_for(lambda: worker.state in ("idle", "running"), "a runner")
    return worker._runner.pid


def test_cancel_during_interpolation_stops_at_the_next_frame(worker):
    runner = _runner_pid(worker)
    task_id = _submit(worker, {"prompt": "x", "image": "uploads/noise.png",
                               "settings": INTERPOLATING})
    _wait_for(lambda: (p := worker.store.get(task_id)["progress"]) and
              p["stage"] == "interpolation", "the interpolation stage")
    task, seconds = _cancel(worker, task_id)
    assert task["status"] == "cancelled" and seconds < CANCEL_SECONDS
    assert task["progress"]["stage"] == "interpolation"
    _assert_clean(worker, task_id)
    assert _runner_pid(worker) == runner and alive(runner)  # stopped, not killed


def test_cancel_during_a_slow_model_step_kills_the_runner(worker):
    """No callback until the step ends: the runner is killed after the grace period."""
    runner = _runner_pid(worker)
    task_id = _submit(worker, {"prompt": "x", "image": "uploads/noise.png",
                               "settings": SLOW_STEP})
    _wait_for(lambda: (p := worker.store.get(task_id)["progress"]) and p["stage"] == "load",
              "the model to load")
    task, seconds = _cancel(worker, task_id)
    assert task["status"] == "cancelled" and seconds < CANCEL_SECONDS
    assert not alive(runner)
    _assert_clean(worker, task_id)
    assert _runner_pid(worker) != runner  # a fresh runner serves the next task


def test_cancel_during_encoding_stops_ffmpeg_and_leaves_nothing(worker):
    runner = _runner_pid(worker)
    task_id = _submit(worker, {"prompt": "x", "image": "uploads/noise.png",
                               "settings": ENCODING})
    _wait_for(lambda: any(".part.mp4" in p.name for p in _staged(worker, task_id)),
              "the encode to start")
    ffmpeg = children_of(runner)
    assert ffmpeg, "the runner should be running ffmpeg"
    task, seconds = _cancel(worker, task_id)
    assert task["status"] == "cancelled" and seconds < CANCEL_SECONDS
    _wait_for(lambda: not any(alive(pid) for pid in ffmpeg), "ffmpeg to end", timeout=3)
    _assert_clean(worker, task_id)
    assert _runner_pid(worker) == runner and alive(runner)  # stopped, not killed


def test_a_dead_runner_fails_its_task_and_the_next_one_runs(worker):
    import os
    import signal

    runner = _runner_pid(worker)
    task_id = _submit(worker, {"prompt": "x", "image": "uploads/noise.png",
                               "settings": INTERPOLATING})
    _wait(worker, task_id, until=("running",))
    os.kill(runner, signal.SIGKILL)  # as the kernel's OOM killer would
    task = _wait(worker, task_id)
    assert task["status"] == "failed" and "ended unexpectedly" in task["error"]
    _assert_clean(worker, task_id)
    after = _submit(worker, {"prompt": "之后"})
    assert _wait(worker, after)["status"] == "succeeded"


# A server stand-in: starts a runner, gives it a long job, prints the runner's pid, waits.
PARENT = """
import sys, time
from svlab.run.settings import load_config
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.task_runner import Ready, RunnerJob, start_runner

data = DataFolder.create(sys.argv[1])
config = load_config("cpu-tiny", overrides={"model": "fallback"})
runner, conn = start_runner(data, config, preload=False, log_level=30)
assert isinstance(conn.recv(), Ready)
task = "f" * 32
request = {"prompt": "x", "image": "uploads/noise.png", "settings": %r}
conn.send(RunnerJob(task, request, data.new_staging(task) / (task + ".mp4")))
print(runner.pid, flush=True)
time.sleep(600)
"""


def test_the_runner_dies_with_its_server(worker, tmp_path):
    """Killed by SIGKILL, a server cannot stop its runner: the runner notices and ends
    itself (and its process group), even in the middle of a stage without callbacks."""
    import signal
    import subprocess
    import sys

    data = DataFolder.create(tmp_path / "data")
    shutil.copy(worker.data.uploads / "noise.png", data.uploads)
    parent = subprocess.Popen([sys.executable, "-c", PARENT % ENCODING, str(data.root)],
                              stdout=subprocess.PIPE, text=True)
    try:
        runner = int(parent.stdout.readline())
        time.sleep(1)  # into the job: loading the image, the clip, interpolating
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _wait_for(lambda: not alive(runner), "the runner to end", timeout=10)
    finally:
        parent.kill()


def test_two_workers_share_one_store(worker):
    """The store is the only shared state: a second worker (and runner) over the same store
    takes the next queued task while the first is busy, and cancellation reaches it through
    the store's flag alone."""
    second = Worker(TaskStore(worker.data.database), worker.data, worker.base_config,
                    task_timeout=300, preload=False, name="worker-2")
    second.start()
    try:
        _wait_for(lambda: second.state == "idle" and worker.state == "idle", "both runners")
        slow = {"prompt": "x", "image": "uploads/noise.png", "settings": INTERPOLATING}
        a, b = _submit(worker, slow), _submit(worker, slow)
        second.wake()
        _wait_for(lambda: {worker.current, second.current} == {a, b}, "both tasks running")
        start = time.monotonic()
        TaskStore(worker.data.database).request_cancel(b)  # the flag only, as from elsewhere
        assert _wait(worker, b)["status"] == "cancelled"
        assert time.monotonic() - start < CANCEL_SECONDS
        assert worker.store.get(a)["status"] == "running"  # the other run goes on
        assert _cancel(worker, a)[0]["status"] == "cancelled"
    finally:
        second.stop()


def test_failures_are_recorded(worker):
    gone = _submit(worker, {"prompt": "x", "image": "uploads/missing.png"})
    broken = _submit(worker, {"storyboard": {"scenes": [{"text": "a", "image": "../x.png"}]}})
    assert "is gone from the data folder" in _wait(worker, gone)["error"]
    assert worker.store.get(gone)["status"] == "failed"
    error = _wait(worker, broken)["error"]
    assert "outside the folder" in error and str(worker.data.root) not in error


def test_cancel_requested_before_start(worker):
    store = TaskStore(worker.data.database)  # another process's view of the store
    task = store.create({"prompt": "x"})
    store.request_cancel(task["id"])  # queued: cancelled at once, never run
    assert _wait(worker, task["id"])["status"] == "cancelled"
    assert not worker.data.result(task["id"]).exists()


def test_stop_requeues_the_running_task(worker):
    """Last in this module: it stops the module's worker."""
    runner = _runner_pid(worker)
    task_id = _submit(worker, {"prompt": "x", "image": "uploads/noise.png",
                               "settings": INTERPOLATING})
    _wait(worker, task_id, until=("running",))
    start = time.monotonic()
    worker.stop()
    assert time.monotonic() - start < CANCEL_SECONDS + 5
    assert worker.store.get(task_id)["status"] == "queued"
    assert not alive(runner) and worker.state == "stopped"
    _assert_clean(worker, task_id)


def test_task_config_layers(config):
    assert task_config({"settings": {"seed": 9}}, config).seed == 9
    board = {"scenes": ["a"], "settings": {"num_frames": 4, "seed": 1}}
    merged = task_config({"storyboard": board, "settings": {"seed": 2}}, config)
    assert (merged.num_frames, merged.seed, merged.model) == (4, 2, "fallback")
    standard = task_config({"profile": "standard", "settings": {}}, config)
    assert standard.height == 576
