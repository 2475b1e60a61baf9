"""The task API's round-3 rules: a queue cap (429 + Retry-After), no server path in a task's
view, a 404 message left whole, bounded upload decodes, and the CLI's fallback rule (an
explicit model that cannot run is an error unless fallback is allowed)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient
from servers import SERVE, free_port

from svlab.run.settings import load_config
from svlab.work.tasks.api import intake
from svlab.work.tasks.api.app import create_app
from svlab.work.tasks.execution.faults import redact_tree
from svlab.work.tasks.api.limits import ServerLimits

BASE = "http://127.0.0.1"
FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)
LIMITS = ServerLimits(max_frames=40, max_steps=50, max_pixel_frames=64 * 64 * 400,
                      max_seconds=60, task_timeout=60)


def _client(tmp_path, **options):
    app = create_app(tmp_path / "data", load_config("cpu-tiny", overrides=FAST),
                     max_upload_bytes=50_000, limits=LIMITS, **options)
    return TestClient(app, base_url=BASE)  # no lifespan: tasks stay queued


def test_a_full_queue_is_429_with_retry_after(tmp_path):
    client = _client(tmp_path, max_queue=2)
    for _ in range(2):
        assert client.post("/api/tasks/", json={"prompt": "a"}).status_code == 202
    answer = client.post("/api/tasks/", json={"prompt": "a"})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert "queue is full" in answer.json()["detail"] and "at most 2" in answer.json()["detail"]
    assert client.get("/api/tasks").json()["counts"]["queued"] == 2  # nothing stored


def test_a_404_message_is_whole(tmp_path):
    detail = _client(tmp_path).get("/api/tasks/" + "0" * 32).json()["detail"]
    assert "as POST /api/tasks/ returned them" in detail


def test_task_views_show_no_server_paths():
    manifest = {"model_info": {"path": "/root/.cache/huggingface/hub/models--a/snapshots/b"},
                "fallback_reason": "no weights in /root/.cache/huggingface/hub/models--a",
                "inputs": {"prompt": "walk /a/b", "image": {"image": "/srv/d/uploads/u.png"}}}
    shown = redact_tree(manifest, Path("/srv/d"))
    assert "/root" not in str(shown) and shown["inputs"]["image"]["image"] == "uploads/u.png"
    assert shown["inputs"]["prompt"] == "walk /a/b"  # the user's own text is left as written


def test_per_task_fallback_is_accepted_by_the_schema(tmp_path):
    client = _client(tmp_path)
    answer = client.post("/api/tasks/", json={"prompt": "a", "allow_fallback": True})
    assert answer.status_code == 202 and answer.json()["request"]["allow_fallback"] is True
    assert client.post("/api/tasks/", json={"prompt": "a", "allow_fallback": "x"}
                       ).status_code == 422


def test_upload_decodes_in_flight_are_bounded(monkeypatch):
    inside, most = [0], [0]
    lock = threading.Lock()

    class Slow:
        format, size = "PNG", (10, 10)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def load(self):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    import PIL.Image
    monkeypatch.setattr(PIL.Image, "open", lambda *a, **k: Slow())
    threads = [threading.Thread(target=intake.image_suffix, args=(b"x",)) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] <= intake.DECODES_IN_FLIGHT


def test_serve_refuses_an_explicit_model_that_cannot_run(tmp_path):
    for model in ("/etc", "svd-xt"):
        proc = subprocess.run([*SERVE, "--port", str(free_port()), "--data",
                               str(tmp_path / "d"), "--profile", "cpu-tiny", "--model", model],
                              capture_output=True, text=True, timeout=300,
                              env={"HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
                                   "PATH": "/usr/bin:/bin",
                                   "PYTHONPATH": str(Path(__file__).parents[2])})
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and "--allow-fallback" in proc.stderr
