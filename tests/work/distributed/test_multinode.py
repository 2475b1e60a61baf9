"""A sweep on a two-node Ray cluster (`ray.cluster_utils.Cluster`: each node its own raylet
and object store, CPU workers one per node) that loses a node mid-sweep."""

from __future__ import annotations

import json

import pytest
from ray_clusters import WhenBusy, ray_cluster

import svlab
from svlab.work.distributed import PoolSettings
from svlab.work.sweep.ray_executor import RayExecutor

pytestmark = pytest.mark.slow
TINY = {"profile": "cpu-tiny", "num_frames": 4, "num_inference_steps": 2}


@pytest.fixture(scope="module")
def cluster():
    with ray_cluster(num_cpus=1) as cluster:
        yield cluster


def test_a_node_lost_mid_sweep_costs_only_its_run(cluster, tmp_path, photo_file):
    second = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    out = tmp_path / "out"
    executor = RayExecutor(settings=PoolSettings())  # CPU only: one worker per node
    done = lambda: len(list((out / "runs").glob("*.metrics.json")))  # noqa: E731
    remover = WhenBusy(executor, done, lambda info: cluster.remove_node(second),
                       which=lambda info: info.node_id == second.node_id)
    remover.start()
    table = svlab.sweep({"base": TINY, "inputs": [{"image": str(photo_file)}], "seeds": 6},
                        out, executor=executor, progress=False)
    remover.join(timeout=1)
    lost_worker = remover.acted_on
    assert lost_worker is not None, "the second node's worker was never caught mid-run"

    assert list(table["status"]) == ["done"] * 6
    runs = [json.loads((out / "runs" / f"{key}.json").read_text())["execution"]
            for key in table["key"]]
    assert {r["threads"] for r in runs} == {1}
    retried = [r for r in runs if r["attempts"] == 2]
    assert len(retried) == 1
    assert retried[0]["lost_workers"][0]["worker"] == lost_worker.name
    assert retried[0]["worker"] != lost_worker.name  # finished on the node that stayed
    assert {w.name for w in executor.summary} == {"w0", "w1"}
    assert sum(w.jobs for w in executor.summary) == 6
