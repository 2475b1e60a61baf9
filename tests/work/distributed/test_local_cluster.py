"""A real local Ray instance with two logical GPUs (GPU scheduling without a GPU): the worker
pool; sweeps (frames identical to the local executor, a worker SIGKILLed mid-run, a driver
SIGKILLed mid-sweep); storyboards whose scenes are made in parallel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

from ray_clusters import WhenBusy, ray_cluster

import svlab
from svlab.face.cli import main
from svlab.work.distributed import Job, PoolSettings, WorkerPool
from svlab.render.storyboards import storyboard_from_dict
from svlab.work.distributed.ray_scenes import RayScenes
from svlab.media import read_video
from svlab.work.sweep import plan_sweep
from svlab.work.sweep.executors import LocalExecutor
from svlab.work.sweep.ray_executor import RayExecutor
from svlab.work.sweep.driver import run_plan

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'svlab[ray]')")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # jobs defined here

pytestmark = pytest.mark.slow
TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster(num_cpus=2, num_gpus=2) as cluster:
        yield cluster


def remember(state, affinity):
    """A job: which affinities this worker has loaded, in order, and where it runs."""
    if state.get("affinity") != affinity:
        state.setdefault("loads", []).append(affinity)
        state["affinity"] = affinity
    time.sleep(0.2)
    return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES"), list(state["loads"])


def die_if(state, bad):
    if bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def test_the_pool_gives_each_worker_a_gpu_and_keeps_affinities_together(cluster):
    jobs = [Job(f"{a}{i}", a, remember, (a,)) for a in "ab" for i in range(4)]
    outcomes = {}
    with WorkerPool(PoolSettings()) as pool:  # default: one worker per (logical) GPU
        pool.run(jobs, lambda o: outcomes.setdefault(o.key, o))
        summary = pool.summary()
    assert sorted(outcomes) == sorted(j.key for j in jobs)
    assert all(o.error is None and o.attempts == 1 for o in outcomes.values())
    assert sorted(w.gpus for w in summary) == [("0",), ("1",)]
    assert sum(w.jobs for w in summary) == 8
    devices = {o.value[0]: o.value[1] for o in outcomes.values()}
    assert sorted(devices.values()) == ["0", "1"]  # each worker process sees its own GPU
    for pid, _, loads in (o.value for o in outcomes.values()):
        assert len(loads) == len(set(loads)), f"worker {pid} loaded an affinity twice: {loads}"


def test_a_job_that_kills_every_worker_is_given_up_and_the_rest_finish(cluster):
    jobs = [Job("bad", "x", die_if, (True,))] + [Job(f"ok{i}", "x", die_if, (False,))
                                                 for i in range(3)]
    outcomes = {}
    with WorkerPool(PoolSettings(workers=2, max_attempts=2)) as pool:
        pool.run(jobs, lambda o: outcomes.setdefault(o.key, o))
        bad = outcomes["bad"]
        assert bad.value is None and "died 2 times" in bad.error
        assert sorted(a.worker for a in bad.lost) == ["w0", "w1"]  # tried on both
        assert all(outcomes[f"ok{i}"].error is None for i in range(3))
        assert sum(w.lost for w in pool.summary()) == 2
        again = {}
        pool.run([Job("after", "x", die_if, (False,))], lambda o: again.setdefault(o.key, o))
        assert again["after"].error is None  # Ray brought the workers back


def spec_file(tmp_path, photo_file, **sections):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({"base": TINY, "inputs": [{"image": str(photo_file)}],
                                    **sections}))
    return path


def manifests(out):
    return {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*.json")
            if not p.name.startswith(".") and not p.name.endswith(".metrics.json")}


def test_frames_and_table_are_those_of_the_local_executor(cluster, tmp_path, photo_file):
    import torch

    spec = spec_file(tmp_path, photo_file, runs=[{"model": "tiny"}, {"model": "fallback"}],
                     seeds=[0, 1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the Ray workers have (CPU sums depend on the thread count)
    try:
        local = svlab.sweep(spec, tmp_path / "local", progress=False)
    finally:
        torch.set_num_threads(threads)
    executor = RayExecutor(settings=PoolSettings(workers=2))
    table = svlab.sweep(spec, tmp_path / "ray", executor=executor, progress=False)

    assert list(table["key"]) == list(local["key"]) and list(table["status"]) == ["done"] * 4
    assert list(table["engine"]) == list(local["engine"]) == ["model"] * 2 + ["fallback"] * 2
    assert list(table.columns) == list(local.columns)
    for key in table["key"]:
        ours, _ = read_video(tmp_path / "ray" / "runs" / f"{key}.mp4")
        theirs, _ = read_video(tmp_path / "local" / "runs" / f"{key}.mp4")
        np.testing.assert_array_equal(ours, theirs)
    ray_manifests, local_manifests = manifests(tmp_path / "ray"), manifests(tmp_path / "local")
    for key, manifest in ray_manifests.items():
        execution = manifest.pop("execution")
        assert execution["executor"] == "ray" and execution["attempts"] == 1
        assert execution["gpus"] in (["0"], ["1"]) and execution["threads"] == 1
        assert manifest["inputs"] == local_manifests[key]["inputs"]  # the driver's path
    assert sorted(w.jobs for w in executor.summary) == [2, 2] or \
        sum(w.jobs for w in executor.summary) == 4

    again = RayExecutor(settings=PoolSettings(workers=2))
    svlab.sweep(spec, tmp_path / "ray", executor=again, progress=False)
    assert again.summary == []  # resumed: nothing left to make, no worker started


def test_a_worker_killed_mid_run_costs_only_a_retry(cluster, tmp_path, photo_file):
    spec = spec_file(tmp_path, photo_file, seeds=6)
    out = tmp_path / "out"
    executor = RayExecutor(settings=PoolSettings(workers=2))
    killer = WhenBusy(executor, lambda: len(manifests(out)),
                      lambda info: os.kill(info.pid, signal.SIGKILL))
    killer.start()
    table = svlab.sweep(spec, out, executor=executor, progress=False)
    killer.join(timeout=1)
    killed = killer.acted_on
    assert killed is not None, "no worker was caught mid-run"

    assert list(table["status"]) == ["done"] * 6
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == sorted(f"{k}{s}" for k in table["key"]
                           for s in (".mp4", ".json", ".metrics.json"))  # each once, no debris
    executions = [m["execution"] for m in manifests(out).values()]
    retried = [e for e in executions if e["attempts"] == 2]
    assert len(retried) == 1 and all(e["attempts"] == 1 for e in executions if e not in retried)
    lost = retried[0]["lost_workers"]
    assert [(a["worker"], a["pid"]) for a in lost] == [(killed.name, killed.pid)]
    assert retried[0]["pid"] != killed.pid
    assert sum(w.lost for w in executor.summary) == 1


def test_a_driver_killed_mid_sweep_resumes_from_the_folder(cluster, tmp_path, photo_file):
    spec = spec_file(tmp_path, photo_file, seeds=6)
    out = tmp_path / "out"
    command = [sys.executable, "-c", "from svlab.face.cli import main; raise SystemExit(main())",
               "sweep", str(spec), "--out", str(out), "--ray", cluster.address,
               "--workers", "2"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(manifests(out)) < 2 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert driver.poll() is None, driver.stderr.read().decode()[-2000:]
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done_before = set(manifests(out))
    assert 2 <= len(done_before) < 6

    plan = plan_sweep(spec, out)
    executor = RayExecutor(settings=PoolSettings(workers=2))
    table = run_plan(plan, executor, progress=False)
    assert list(table["status"]) == ["done"] * 6
    assert sum(w.jobs for w in executor.summary) == 6 - len(done_before)
    assert not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]
    local = run_plan(plan_sweep(spec, out), LocalExecutor(), progress=False)
    assert list(local["status"]) == ["done"] * 6


BOARD = {"title": "三幕", "subtitles": "on", "crossfade": 0.25,
         "scenes": [{"text": "清晨的森林", "duration": 1.0},
                    {"text": "a river", "duration": 1.0, "settings": {"seed": 5}},
                    {"text": "夜晚的城市", "duration": 1.0}]}


def settled(scenes):
    """Scene records without what differs from one process to another (load timings)."""
    timings = ("load_seconds", "unload_seconds", "released")
    return [{**s, "model_info": {k: v for k, v in (s["model_info"] or {}).items()
                                 if k not in timings}} for s in scenes]


def test_a_storyboard_rendered_on_ray_is_the_local_render(cluster, tmp_path, photo_file):
    import torch

    board = storyboard_from_dict({**BOARD, "scenes": [*BOARD["scenes"][:2],
                                                      {**BOARD["scenes"][2],
                                                       "image": str(photo_file)}]})
    config = svlab.load_config("cpu-tiny", {"num_frames": 4, "num_inference_steps": 2})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = svlab.render_storyboard(board, config, tmp_path / "local.mp4")
    finally:
        torch.set_num_threads(threads)
    scenes_on = RayScenes(settings=PoolSettings(workers=2))
    ours = svlab.render_storyboard(board, config, tmp_path / "ray.mp4", scenes_on=scenes_on)

    np.testing.assert_array_equal(ours.frames, local.frames)
    assert settled(ours.manifest["scenes"]) == settled(local.manifest["scenes"])
    assert ours.manifest["output"]["frames"] == local.manifest["output"]["frames"]
    assert (tmp_path / "ray.vtt").read_text() == (tmp_path / "local.vtt").read_text()
    stages = ours.manifest["stages"]
    assert stages["denoising"]["seconds"] > 0 and "concat" in stages  # workers' and driver's
    assert sum(w.jobs for w in scenes_on.summary) == 3
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ray")) == [
        "ray.json", "ray.mp4", "ray.srt", "ray.vtt"]  # no debris


def test_generate_a_prompt_with_ray_on_the_command_line(cluster, tmp_path, capsys):
    out = tmp_path / "p.mp4"
    prompt = "清晨的森林。夜晚的城市。"
    assert main(["generate", "--prompt", prompt, "--out", str(out), "--profile", "cpu-tiny",
                 "--frames", "4", "--steps", "2", "--ray", "--json"]) == 0
    ray_manifest = json.loads(capsys.readouterr().out)["manifest"]
    assert len(ray_manifest["scenes"]) == 2
    assert main(["generate", "--image", str(out), "--out", str(tmp_path / "x.mp4"),
                 "--ray"]) == 2
    assert "give --prompt without --image" in capsys.readouterr().err


def test_svlab_sweep_ray_prints_a_line_per_worker(cluster, tmp_path, photo_file, capsys):
    spec = spec_file(tmp_path, photo_file, seeds=2)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--ray", "--workers", "2",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["done"] == 2 and len(report["workers"]) == 2
    assert sorted(w["gpus"][0] for w in report["workers"]) == ["0", "1"]
    assert sum(w["jobs"] for w in report["workers"]) == 2
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--ray"]) == 0
    assert capsys.readouterr().out.startswith("2 runs: 2 done, 0 failed")


def test_ray_started_here_is_its_own_beside_a_running_cluster(cluster):
    # A bare ray.init() finds the cluster this module runs (by its processes) and joins it,
    # refusing the resources asked for; `--ray` without an address starts a Ray of its own.
    code = ("import ray\nfrom svlab.work.distributed.cluster import ray_session\n"
            "with ray_session(None, num_cpus=1):\n    print(ray.cluster_resources()['CPU'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "RAY_AUTH_MODE": "disabled"})
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.split()[-1]) == 1.0  # this module's cluster has 2
