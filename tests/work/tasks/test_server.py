"""A real `svlab serve` process (uvicorn on loopback): post, poll, download; SIGKILL it in the
middle of a task and of an upload and start it again (nothing is lost, nothing half-written
stays); and the hardening that is about HTTP itself: bodies streamed without a length, HEAD,
Range, NUL bytes, Host and Origin, the per-task time limit, and a full disk."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from servers import Server, alive, children_of

from svlab.face.cli import main
from svlab.media import probe

pytestmark = pytest.mark.slow


def test_serve_post_poll_download_and_survive_sigkill(serve, tmp_path):
    data = tmp_path / "data"
    server = serve(data=data)
    # The seed's request, as its README sends it with curl.
    r = server.client.post("/api/tasks/", json={"prompt": "制作一段关于森林探险的短视频"},
                           headers={"Content-Type": "application/json"})
    assert r.status_code == 202
    first = server.wait(r.json()["id"])
    assert first["status"] == "succeeded", first["error"]
    video = server.client.get(first["video_url"])
    assert video.status_code == 200 and video.headers["accept-ranges"] == "bytes"
    saved = tmp_path / "first.mp4"
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
    runners = children_of(server.proc.pid)
    assert runners
    upload = _half_an_upload(server.port)  # and an upload is on its way
    server.stop(signal.SIGKILL)
    upload.close()
    assert server.proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10  # the runner notices and takes its ffmpeg with it
    while any(alive(pid) for pid in runners):
        assert time.monotonic() < deadline, "the runner outlived the server"
        time.sleep(0.05)

    db = sqlite3.connect(data / "tasks.db")
    states = dict(db.execute("SELECT id, status FROM tasks").fetchall())
    db.close()
    assert states == {first["id"]: "succeeded", long["id"]: "running", short["id"]: "queued"}
    # What a kill in the middle of writing an upload leaves: a hidden part file.
    (data / "uploads" / ".0f0f0f0f0f0f.part.png").write_bytes(b"\x89PNG half")

    server = serve(data=data)
    assert list((data / "uploads").iterdir()) == []
    done = server.wait(long["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["attempts"] == 2
    assert len(done["manifest"]["scenes"]) == 12
    assert server.wait(short["id"])["status"] == "succeeded"
    saved = tmp_path / "long.mp4"
    saved.write_bytes(server.client.get(done["video_url"]).content)
    assert probe(saved)["frames"] == 12 * 12
    listed = server.client.get("/api/tasks").json()
    assert listed["counts"]["succeeded"] == 3 and len(listed["tasks"]) == 3
    assert not [p.name for p in (data / "videos").iterdir() if p.name.startswith(".")]
    server.stop()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal to exit with it
    assert server.proc.returncode == -signal.SIGTERM, server.output()
    assert "Traceback" not in server.output()


def _half_an_upload(port: int) -> socket.socket:
    """A multipart upload of which half has been sent."""
    boundary = b"svlabboundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="image"; '
            b'filename="a.png"\r\nContent-Type: image/png\r\n\r\n' + b"\x89PNG"
            + b"0" * 3_000_000 + b"\r\n--" + boundary + b"--\r\n")
    head = (b"POST /api/tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/"
            b"form-data; boundary=" + boundary + b"\r\nContent-Length: %d\r\n\r\n" % len(body))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body[: len(body) // 2])
    time.sleep(0.3)
    return sock


# Long enough for a prompt on the fallback engine in a cold runner on a loaded 2-core machine
# (4 s was not), short against the slow task below (minutes).
TASK_TIMEOUT = 15


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the HTTP checks: uploads up to 1 MiB, TASK_TIMEOUT s per task."""
    data = tmp_path_factory.mktemp("http") / "data"
    server = Server(data, "--max-upload-mb", "1", "--task-timeout", str(TASK_TIMEOUT))
    r = server.client.post("/api/tasks/", json={"prompt": "一"})
    server.done = server.wait(r.json()["id"])
    assert server.done["status"] == "succeeded", server.done["error"]
    yield server
    server.stop()


def _raw(port, head: bytes, chunks=(), timeout=30.0):
    """Send a request over a raw socket, its body in chunks, until the server has answered
    (status, headers and a Content-Length body). Returns (status line, headers, body, bytes
    of body sent)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    sent, pending, chunks, answer = 0, head, iter(chunks), b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not _complete(answer):
        readable, writable, _ = select.select([sock], [sock] if pending is not None else [],
                                              [], 0.5)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            answer, pending = answer + data, None  # the server has answered: stop sending
        elif writable and pending is not None:
            try:
                pending = pending[sock.send(pending):]
            except (BrokenPipeError, ConnectionResetError):
                pending = None
                continue
            if not pending:
                pending = next(chunks, None)
                sent += len(pending or b"")
    sock.close()
    head_part, _, body = answer.partition(b"\r\n\r\n")
    lines = head_part.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return lines[0], {k.lower(): v for k, v in headers.items()}, body, sent


def _complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def test_chunked_body_is_stopped_at_the_limit(server):
    """200 MB sent without Content-Length: refused once past the limit, not read whole."""
    head = (b"POST /api/tasks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
            b"\r\nTransfer-Encoding: chunked\r\n\r\n")
    block = b"a" * (1 << 20)
    chunks = (b"%x\r\n%s\r\n" % (len(block), block) for _ in range(200))
    status, headers, body, sent = _raw(server.port, head, chunks)
    assert " 413 " in status and headers["content-type"] == "application/json", status
    assert "too large" in json.loads(body)["detail"]
    assert sent < 50 << 20  # stopped long before the 200 MB (socket buffers hold a few)
    assert server.client.get("/api/health").status_code == 200


def test_head_range_and_nul(server):
    url = server.done["video_url"]
    whole = server.client.get(url).content
    head = server.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(whole)
    assert head.headers["content-type"] == "video/mp4"
    for bad in ("bytes=abc", "bytes=5-3", f"bytes={len(whole)}-", "bytes=-0", "items=0-1",
                "bytes=", "bytes=0-1,x", "garbage", f"bytes={'9' * 30}-"):
        r = server.client.get(url, headers={"Range": bad})
        assert r.status_code == 416, (bad, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json", bad
        assert r.headers["content-range"] == f"bytes */{len(whole)}"
        assert "cannot be served" in r.json()["detail"]
    assert server.client.get(url, headers={"Range": "bytes=0-0, 5-9"}).status_code == 206
    for path in ("/api/tasks/%00/video", f"/api/tasks/{server.done['id']}%00",
                 "/api/tasks/%00"):
        r = server.client.get(path)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_deep_json_and_nan_over_http(server):
    before = server.client.get("/api/tasks").json()["counts"]
    deep = b'{"prompt": "x", "settings": {"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    for body, words in ((deep, "nested too deeply"),
                        (b'{"prompt": "x", "settings": {"noise_aug_strength": NaN}}', "NaN")):
        r = server.client.post("/api/tasks/", content=body,
                               headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and words in r.json()["detail"]
    assert server.client.get("/api/tasks").json()["counts"] == before


def test_host_and_origin_over_http(server):
    """DNS rebinding (a foreign Host on a loopback server) and cross-site pages are refused
    before anything is read; a client that sends neither is served."""
    for headers in ({"Host": "attacker.example:8000"},
                    {"Origin": "http://attacker.example"},
                    {"Origin": "null"}):
        r = server.client.post("/api/tasks/", json={"prompt": "x"}, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == "application/json"
    own = server.client.get("/api/health", headers={"Origin": server.url})
    assert own.status_code == 200


def test_time_limit_fails_a_long_task_and_the_queue_moves_on(server):
    """A request within every size limit that still runs long (the tiny model's attention at
    320x320 over 16 frames: seconds a step, for the server's most steps, 100) is stopped at
    the time limit with that reason; the task queued behind it then runs."""
    slow = server.client.post("/api/tasks/", json={"prompt": "慢", "settings": {
        "model": "tiny", "width": 320, "height": 320, "num_frames": 16,
        "num_inference_steps": 100}}).json()
    after = server.client.post("/api/tasks/", json={"prompt": "快"}).json()
    start = time.monotonic()
    done = server.wait(slow["id"], timeout=TASK_TIMEOUT + 60)
    assert done["status"] == "failed" and f"time limit of {TASK_TIMEOUT} s" in done["error"]
    assert time.monotonic() - start < TASK_TIMEOUT + 15
    assert server.wait(after["id"], timeout=60)["status"] == "succeeded"


def test_cli_refusals(tmp_path, capsys, monkeypatch):
    """Each is one line and exit status 2, before anything listens or is written."""
    monkeypatch.delenv("SVLAB_TOKEN", raising=False)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "tasks.db").write_bytes(b"not a database" * 100)
    cases = [
        (["--port", "70000"], "--port 70000 is out of range"),
        (["--host", "0.0.0.0"], "exposes the API beyond this machine; give a token"),
        (["--host", "0.0.0.0", "--token", "short"], "accepted: at least 16"),
        (["--max-upload-mb", "nan"], "--max-upload-mb must be a positive number"),
        (["--max-pixel-frames", "inf"], "--max-pixel-frames must be a positive number"),
        (["--task-timeout", "0"], "task_timeout (svlab serve --task-timeout) must be a"),
        (["--max-frames", "-1"], "--max-frames) must be a positive number"),
        (["--allow-origin", "nonsense"], "--allow-origin takes an origin"),
        (["--data", str(a_file)], "cannot use"),
        (["--data", str(corrupt)], "tasks.db is not a readable svlab task database"),
    ]
    for flags, words in cases:
        assert main(["serve", "--port", "1", *flags]) == 2, flags  # nothing listens on 1
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err, err


def _tmpfs_prefix(mountpoint: Path, size: str) -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            f'mount -t tmpfs -o size={size} tmpfs "$0" && exec "$@"', str(mountpoint)]


def _can_mount_tmpfs(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe_dir = tmp_path / "probe"
    probe_dir.mkdir()
    proc = subprocess.run([*_tmpfs_prefix(probe_dir, "1m"), "true"], capture_output=True)
    return proc.returncode == 0


def _fill(folder: Path, name: str = "filler") -> Path:
    filler = folder / name
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_disk_full(serve, tmp_path):
    """A real small file system (tmpfs, in a user and mount namespace): a full disk is a
    JSON 507 for new requests, a failed task with that reason for a running one, and once
    space is back the server serves again, without a restart."""
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs here (no unshare, or user namespaces disabled)")
    data = tmp_path / "data"
    data.mkdir()
    server = serve(data=data, prefix=_tmpfs_prefix(data, "6m"))
    inside = Path(f"/proc/{server.proc.pid}/root") / str(data).lstrip("/")  # the tmpfs
    before = server.client.post("/api/tasks/", json={"prompt": "前"}).json()
    assert server.wait(before["id"])["status"] == "succeeded"

    # A task that writes more than the disk has left while it runs.
    big = server.client.post("/api/tasks/", json={"prompt": "大", "settings": {
        "width": 256, "height": 256, "num_frames": 16, "interpolation": "blend",
        "interpolation_factor": 8}}).json()
    server.wait(big["id"], until=("running",))
    filler = _fill(inside)
    task = server.wait(big["id"])
    assert task["status"] == "failed" and "data folder is full" in task["error"], task
    assert str(data) not in task["error"]

    more = _fill(inside, "filler2")  # what the failed run freed
    for kwargs in ({"json": {"prompt": "满"}},
                   {"files": {"image": ("a.png", _small_png(), "image/png")}}):
        r = server.client.post("/api/tasks/", **kwargs)
        assert r.status_code == 507 and "data folder is full" in r.json()["detail"], r.text
    listed = server.client.get("/api/tasks")
    assert listed.status_code == 200 and listed.json()["counts"]["running"] == 0
    assert [p.name for p in (inside / "uploads").iterdir()] == []

    filler.unlink()
    more.unlink()
    after = server.client.post("/api/tasks/", json={"prompt": "后"}).json()
    assert server.wait(after["id"])["status"] == "succeeded"


def _small_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "PNG")
    return buf.getvalue()


def _runners(server) -> list[int]:
    """The server's runner processes (spawned children; not multiprocessing's helpers)."""
    return [pid for pid in children_of(server.proc.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_two_workers_run_two_tasks_at_once_and_a_dead_runner_costs_only_its_task(serve):
    server = serve("--workers", "2")
    server.wait_ready()
    assert [w["name"] for w in server.client.get("/api/health").json()["workers"]] == [
        "worker-1", "worker-2"]
    long = {"prompt": "".join(f"第{i}幕。" for i in range(1, 13)), "settings": {"num_frames": 12}}
    tasks = [server.client.post("/api/tasks/", json=long).json()["id"] for _ in range(2)]
    deadline = time.monotonic() + 60
    while not all(server.task(t)["status"] == "running" for t in tasks):  # at once
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.02)
    runners = _runners(server)
    assert len(runners) == 2
    os.kill(runners[0], signal.SIGKILL)  # one worker's process dies mid-task

    ends = [server.wait(t) for t in tasks]
    assert sorted(e["status"] for e in ends) == ["failed", "succeeded"]
    failed = next(e for e in ends if e["status"] == "failed")
    assert "ended unexpectedly" in failed["error"]
    assert server.client.get(f"/api/tasks/{failed['id']}/video").status_code == 409
    after = [server.client.post("/api/tasks/", json={"prompt": "尾声"}).json()["id"]
             for _ in range(2)]  # both workers still serve (the dead runner was replaced)
    assert [server.wait(t)["status"] for t in after] == ["succeeded", "succeeded"]


def test_serve_refuses_zero_workers(capsys):
    assert main(["serve", "--workers", "0"]) == 2
    assert "--workers must be at least 1, got 0" in capsys.readouterr().err
