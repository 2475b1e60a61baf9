"""`svlab serve --ray`: a real server process (uvicorn on loopback) whose tasks run on Ray
workers of a real local Ray cluster (two CPUs, so two CPU workers with one thread each) that
the server joins by its address. Tasks run at once and make the frames the local worker makes;
a worker SIGKILLed mid-task costs that task a retry (in its manifest), and a task whose every
worker dies fails with the reason; a cancelled or timed-out task stops its worker, which is
replaced; bad input is still a 4xx."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ray_clusters import ray_cluster
from servers import SERVE, Server, alive

from svlab.models import write_tiny_model
from svlab.media import read_video

pytestmark = pytest.mark.slow

# The tiny model (real SVD architecture, random weights) at 64x64: a scene in about a second
# on one thread once loaded.
TINY = {"model": "tiny", "num_frames": 4, "num_inference_steps": 2}
TWO_SCENES = {"prompt": "清晨的森林。夜晚的城市。", "settings": TINY}
LONG = {"prompt": "".join(f"第{i}幕。" for i in range(1, 9)), "settings": TINY}
TASK_TIMEOUT = 25  # seconds: well over a cold tiny task on a loaded machine
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # as the Ray workers pin themselves


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster(num_cpus=2) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    # Built before two workers want it at once: write_tiny_model's rename race (two builders:
    # the second one's rmdir of the first one's folder fails) is svlab/models' to fix.
    write_tiny_model(Path(os.environ["SVLAB_MODELS_DIR"]) / "tiny")
    data = tmp_path_factory.mktemp("serve-ray") / "data"
    server = Server(data, "--ray", cluster.address, "--workers", "2",
                    "--task-timeout", str(TASK_TIMEOUT), env=ONE_THREAD)
    server.wait_ready()
    yield server
    server.stop()
    # uvicorn stops gracefully, then re-raises SIGTERM, which Ray's driver handler turns
    # into exit status 15
    assert server.proc.returncode in (15, -signal.SIGTERM), server.output()
    assert "Traceback" not in server.output()


def post(server, body) -> str:
    r = server.client.post("/api/tasks/", json=body)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def running_on(server, task_id, *, not_pid=None, timeout=120) -> dict:
    """The progress of a running task (which names its worker and attempt), once its run has
    started and, with `not_pid`, once it runs on another process than that."""
    deadline = time.monotonic() + timeout
    while True:
        task = server.task(task_id)
        worker = (task["progress"] or {}).get("worker")
        if task["status"] == "running" and worker and worker["pid"] != not_pid and \
                task["progress"].get("stage") not in ("started", None):
            return task["progress"]
        assert task["status"] in ("queued", "running"), task
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.05)


def frames_of(server, task, tmp_path, name):
    path = tmp_path / f"{name}.mp4"
    r = server.client.get(task["video_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    path.write_bytes(r.content)
    return read_video(path)[0]


def test_tasks_run_at_once_and_make_the_local_workers_frames(server, tmp_path):
    ids = [post(server, TWO_SCENES) for _ in range(2)]
    ends = [server.wait(t, timeout=180) for t in ids]
    assert [e["status"] for e in ends] == ["succeeded", "succeeded"], [e["error"] for e in ends]
    db = sqlite3.connect(server.data / "tasks.db")
    (a0, a1), (b0, b1) = (db.execute("SELECT started, finished FROM tasks WHERE id = ?",
                                     (t,)).fetchone() for t in ids)
    db.close()
    assert a0 < b1 and b0 < a1, "the two tasks did not run at once"
    workers = {e["manifest"]["execution"]["worker"] for e in ends}
    assert workers == {"w0", "w1"}
    for end in ends:
        execution = end["manifest"]["execution"]
        assert execution["attempts"] == 1 and execution["lost_workers"] == []
        assert end["manifest"]["engine"] == "model" and len(end["manifest"]["scenes"]) == 2
        # the manifest's paths are the server's (shown relative to its data folder)
        assert end["manifest"]["output"]["video"] == f"{end['id']}.mp4"
        assert str(server.data) not in str(end["manifest"])
        assert "svlab-task-" not in str(end["manifest"])
    ours = frames_of(server, ends[0], tmp_path, "ray")
    assert ours.shape[0] == 2 * 4
    assert np.array_equal(ours, frames_of(server, ends[1], tmp_path, "ray2"))

    local = Server(tmp_path / "local", env=ONE_THREAD)  # the same request, a local worker
    try:
        done = local.wait(post(local, TWO_SCENES), timeout=180)
        assert done["status"] == "succeeded", done["error"]
        assert "execution" not in done["manifest"]
        assert np.array_equal(ours, frames_of(local, done, tmp_path, "local"))
    finally:
        local.stop()


def test_a_worker_killed_mid_task_costs_a_retry_and_a_task_that_kills_every_worker_fails(
        server, tmp_path):
    task_id = post(server, LONG)
    progress = running_on(server, task_id)
    victim = progress["worker"]
    assert progress["attempt"] == 1
    os.kill(victim["pid"], signal.SIGKILL)
    done = server.wait(task_id, timeout=240)
    assert done["status"] == "succeeded", done["error"]
    execution = done["manifest"]["execution"]
    assert execution["attempts"] == 2
    assert [w["pid"] for w in execution["lost_workers"]] == [victim["pid"]]
    assert execution["pid"] != victim["pid"]
    assert "died" in execution["lost_workers"][0]["error"] or \
        "Actor" in execution["lost_workers"][0]["error"]
    assert frames_of(server, done, tmp_path, "retried").shape[0] == 8 * 4

    # Every worker it touches dies: after max_attempts (3) it fails, saying why.
    doomed = post(server, LONG)
    killed = []
    while (task := server.task(doomed))["status"] in ("queued", "running"):
        progress = running_on(server, doomed, not_pid=killed[-1] if killed else None)
        assert progress["attempt"] == len(killed) + 1, progress
        worker = progress["worker"]
        os.kill(worker["pid"], signal.SIGKILL)
        killed.append(worker["pid"])
        assert len(killed) <= 3, server.task(doomed)
        deadline = time.monotonic() + 60
        while (task := server.task(doomed))["status"] == "running" and \
                ((task["progress"] or {}).get("worker") or {}).get("pid") == killed[-1]:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
    assert task["status"] == "failed" and "died 3 times" in task["error"], task
    assert server.client.get(f"/api/tasks/{doomed}/video").status_code == 409
    again = server.wait(post(server, TWO_SCENES), timeout=180)  # Ray brought them back
    assert again["status"] == "succeeded", again["error"]


def test_cancel_and_time_limit_stop_the_worker_which_is_replaced(server):
    task_id = post(server, LONG)
    worker = running_on(server, task_id)["worker"]
    r = server.client.delete(f"/api/tasks/{task_id}")
    assert r.status_code == 202
    start = time.monotonic()
    ended = server.wait(task_id, timeout=30)
    assert ended["status"] == "cancelled" and "cancelled" in ended["error"]
    assert time.monotonic() - start < 10
    deadline = time.monotonic() + 20  # its actor was ended, not left making the task
    while alive(worker["pid"]):
        assert time.monotonic() < deadline, "the cancelled task's worker still runs"
        time.sleep(0.1)
    assert server.client.get(f"/api/tasks/{task_id}/video").status_code == 409
    assert not [p for p in (server.data / "videos").iterdir() if p.name.startswith(task_id)]

    # Past the time limit: stopped the same way, with that reason.
    slow = post(server, {"prompt": "慢", "settings": {
        "model": "tiny", "width": 320, "height": 320, "num_frames": 16,
        "num_inference_steps": 100}})
    failed = server.wait(slow, timeout=TASK_TIMEOUT + 60)
    assert failed["status"] == "failed" and f"time limit of {TASK_TIMEOUT} s" in \
        failed["error"], failed

    ids = [post(server, TWO_SCENES) for _ in range(2)]  # both workers serve again
    ends = [server.wait(t, timeout=180) for t in ids]
    assert [e["status"] for e in ends] == ["succeeded", "succeeded"], [e["error"] for e in ends]
    health = server.client.get("/api/health").json()
    assert [w["name"] for w in health["workers"]] == ["w0", "w1"]


def test_bad_input_is_refused_before_anything_runs(server):
    before = server.client.get("/api/tasks").json()["counts"]
    for body, status, words in (
            ({"prompt": "x", "settings": {"num_frames": 100000}}, 422, "num_frames"),
            ({"prompt": "x", "settings": {"no_such_setting": 1}}, 422, "no_such_setting"),
            ({"prompt": ""}, 422, "prompt"),
            ({"prompt": "x", "storyboard": {"scenes": []}}, 422, "")):
        r = server.client.post("/api/tasks/", json=body)
        assert r.status_code == status and words in r.json()["detail"], (body, r.text)
    assert server.client.get("/api/tasks").json()["counts"] == before


def test_a_bad_ray_address_is_one_line_before_anything_is_written(tmp_path):
    data = tmp_path / "data"
    proc = subprocess.run([*SERVE, "--data", str(data), "--ray", "ray:/x"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad Ray address 'ray:/x'" in lines[0], proc.stderr
    assert "accepted:" in lines[0] and not data.exists()
