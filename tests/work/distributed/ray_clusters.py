"""Real Ray clusters on this machine for the tests, one per test module (starting Ray costs
seconds), and a thread that acts on a worker caught mid-run.

A cluster is started the way `ray.cluster_utils.Cluster` starts one (each node its own raylet
and object store), with only what the tests need: no dashboard, no autoscaler monitor, no log
monitor. On a loaded 2-core machine those extra Python processes are what made a node's agent
miss Ray's fixed start-up deadline ("Timed out waiting for file ... metrics_agent_port").
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'svlab[ray]')")

from ray.cluster_utils import Cluster  # noqa: E402

LEAN = dict(include_dashboard=False, no_monitor=True, include_log_monitor=False)


@contextlib.contextmanager
def ray_cluster(**head):
    """A cluster whose head node has the resources `head`, with this process connected."""
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # loopback only; one process less
    cluster = None
    for attempt in (1, 2):  # a start that missed Ray's deadline under load is tried again
        try:
            cluster = Cluster(initialize_head=True, head_node_args={**LEAN, **head})
            break
        except Exception:  # noqa: BLE001 - Ray raises bare Exception on start-up timeouts
            if attempt == 2:
                raise
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


class WhenBusy(threading.Thread):
    """Calls `act(worker_info)` once, on a worker that has been making a run for `after`
    seconds, once `reports()` counts at least one finished run."""

    def __init__(self, executor, reports, act, *, after=0.3, timeout=240.0, which=None):
        super().__init__(daemon=True)
        self.executor, self.reports, self.act = executor, reports, act
        self.after, self.timeout, self.which = after, timeout, which or (lambda info: True)
        self.acted_on = None

    def run(self):
        end = time.monotonic() + self.timeout
        while time.monotonic() < end and self.acted_on is None:
            pool = getattr(self.executor, "pool", None)
            if pool is not None and self.reports() >= 1:
                for info, seconds in pool.busy():
                    if seconds >= self.after and self.which(info):
                        self.acted_on = info
                        self.act(info)
                        return
            time.sleep(0.05)
