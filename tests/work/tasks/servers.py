"""A real `svlab serve` process on loopback, and what tests look at from outside it."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

FINISHED = ("succeeded", "failed", "cancelled")
SERVE = [sys.executable, "-c", "import sys; from svlab.face.cli import main; sys.exit(main())",
         "serve"]
SERVE_SETTINGS = ["--profile", "cpu-tiny", "--model", "fallback", "--width", "64", "--height",
                  "64", "--frames", "6", "--log-level", "warning"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Server:
    """A real `svlab serve` process on a free loopback port. `prefix` runs it under another
    command (e.g. unshare); `env` adds environment variables."""

    def __init__(self, data: Path, *flags: str, prefix=(), env=None, token=None):
        self.data, self.port = data, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data.parent / f"server-{self.port}.log"
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*prefix, *SERVE, "--port", str(self.port), "--data", str(data), *SERVE_SETTINGS,
             *flags], stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        deadline = time.monotonic() + 120
        while True:
            assert self.proc.poll() is None, self.output()
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2,
                             headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start: " + self.output()
            time.sleep(0.2)
        self.client = httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def task(self, task_id):
        return self.client.get(f"/api/tasks/{task_id}").json()

    def wait(self, task_id, until=FINISHED, timeout=120):
        deadline = time.monotonic() + timeout
        while (task := self.task(task_id))["status"] not in until:
            assert time.monotonic() < deadline, f"{task} | {self.output()}"
            time.sleep(0.05)
        return task

    def wait_ready(self, timeout=120):
        """Until every worker's runner has started."""
        deadline = time.monotonic() + timeout
        while any(w["state"] == "starting" for w in
                  self.client.get("/api/health").json()["workers"]):
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM):
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        self.log.close()
