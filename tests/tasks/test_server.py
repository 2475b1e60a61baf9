"""A real `svlab serve` process (uvicorn on loopback): post, poll, download; then SIGKILL it in
the middle of a task, start it again, and the task still completes. Nothing is lost."""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from svlab.processor import probe

pytestmark = pytest.mark.slow

SERVE = [sys.executable, "-c", "import sys; from svlab.cli import main; sys.exit(main())",
         "serve"]
SETTINGS = ["--profile", "cpu-tiny", "--model", "fallback", "--width", "64", "--height", "64",
            "--frames", "6", "--log-level", "warning"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data, port):
        self.data, self.port = data, port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(data.parent / f"server-{port}.log", "ab")
        self.proc = subprocess.Popen([*SERVE, "--port", str(port), "--data", str(data),
                                      *SETTINGS], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start: " + self.output()
            time.sleep(0.2)
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.data.parent / f"server-{self.port}.log").read_text(errors="replace")[-3000:]

    def task(self, task_id):
        return self.client.get(f"/api/tasks/{task_id}").json()

    def wait(self, task_id, until=("succeeded", "failed", "cancelled"), timeout=120):
        deadline = time.monotonic() + timeout
        while (task := self.task(task_id))["status"] not in until:
            assert time.monotonic() < deadline, f"{task} | {self.output()}"
            time.sleep(0.05)
        return task

    def stop(self, sig=signal.SIGTERM):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.log.close()


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def test_serve_post_poll_download_and_survive_sigkill(data):
    server = Server(data, _free_port())
    try:
        # The seed's request, as its README sends it with curl.
        r = server.client.post("/api/tasks/", json={"prompt": "制作一段关于森林探险的短视频"},
                               headers={"Content-Type": "application/json"})
        assert r.status_code == 202
        first = server.wait(r.json()["id"])
        assert first["status"] == "succeeded", first["error"]
        video = server.client.get(first["video_url"])
        assert video.status_code == 200 and video.headers["accept-ranges"] == "bytes"
        saved = data.parent / "first.mp4"
        saved.write_bytes(video.content)
        assert probe(saved)["frames"] == 6
        part = server.client.get(first["video_url"], headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == video.content[:100]

        # A long task (12 scenes), and one queued behind it.
        long = server.client.post("/api/tasks/", json={
            "prompt": "".join(f"第{i}幕。" for i in range(1, 13)),
            "settings": {"num_frames": 12}}).json()
        short = server.client.post("/api/tasks/", json={"prompt": "尾声"}).json()
        deadline = time.monotonic() + 60
        while not ((p := server.task(long["id"])["progress"]) and p.get("scene", 0) >= 2):
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.02)
        assert server.client.get(f"/api/tasks/{long['id']}/video").status_code == 409
    finally:
        server.stop(signal.SIGKILL)
    assert server.proc.returncode == -signal.SIGKILL

    db = sqlite3.connect(data / "tasks.db")
    states = dict(db.execute("SELECT id, status FROM tasks").fetchall())
    db.close()
    assert states == {first["id"]: "succeeded", long["id"]: "running", short["id"]: "queued"}

    server = Server(data, _free_port())
    try:
        done = server.wait(long["id"])
        assert done["status"] == "succeeded", done["error"]
        assert done["attempts"] == 2
        assert len(done["manifest"]["scenes"]) == 12
        assert server.wait(short["id"])["status"] == "succeeded"
        video = server.client.get(done["video_url"])
        saved = data.parent / "long.mp4"
        saved.write_bytes(video.content)
        assert probe(saved)["frames"] == 12 * 12
        listed = server.client.get("/api/tasks").json()
        assert listed["counts"]["succeeded"] == 3 and len(listed["tasks"]) == 3
        leftovers = [p.name for p in (data / "videos").iterdir() if p.name.startswith(".")]
        assert leftovers == []
    finally:
        server.stop()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to exit with it
    assert server.proc.returncode == -signal.SIGTERM, server.output()
    assert "Traceback" not in server.output()


def test_serve_refuses_bad_port():
    proc = subprocess.run([*SERVE, "--port", "70000"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "--port 70000 is out of range" in proc.stderr
