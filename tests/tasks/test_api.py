"""The HTTP API through FastAPI's TestClient: the happy path, range requests, and every
kind of bad input (each answered with a 4xx and a clear message, changing nothing)."""

from __future__ import annotations

import io
import json
import time

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from svlab.tasks.api import create_app

PROMPT = "制作一段关于森林探险的短视频"


@pytest.fixture
def app(tmp_path, config):
    return create_app(tmp_path / "data", config, max_upload_bytes=50_000)


@pytest.fixture
def idle(app):
    """A client whose worker never starts (no lifespan): tasks stay queued."""
    return TestClient(app)


@pytest.fixture
def running(app):
    with TestClient(app) as client:
        yield client


def _wait(client, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/api/tasks/{task_id}").json()
        if task["status"] in ("succeeded", "failed", "cancelled"):
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {task}")


def _png(size=(80, 60), color=(20, 160, 40), fmt="PNG"):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, fmt)
    return buf.getvalue()


def test_prompt_to_video(running):
    r = running.post("/api/tasks/", json={"prompt": PROMPT, "settings": {"seed": 4}})
    assert r.status_code == 202, r.text
    task = r.json()
    assert task["status"] in ("queued", "running") and r.headers["location"].endswith(task["id"])
    done = _wait(running, task["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["manifest"]["seed"] == 4 and done["manifest"]["scenes"][0]["text"] == PROMPT
    assert done["progress"]["fraction"] == 1.0
    video = running.get(done["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    part = running.get(done["video_url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"] == f"bytes 0-99/{len(video.content)}"
    assert part.content == video.content[:100]
    tail = running.get(done["video_url"], headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == video.content[-10:]
    vtt = running.get(done["subtitles"]["vtt"])
    assert vtt.status_code == 200 and PROMPT in vtt.text and vtt.text.startswith("WEBVTT")
    assert PROMPT in running.get(done["subtitles"]["srt"]).text
    listed = running.get("/api/tasks").json()
    assert [t["id"] for t in listed["tasks"]] == [task["id"]]
    assert "manifest" not in listed["tasks"][0] and listed["counts"]["succeeded"] == 1
    assert running.get("/api/health").json()["status"] == "ok"


def test_without_trailing_slash_and_multipart_image(running, app):
    r = running.post("/api/tasks", files={"image": ("in.png", _png(), "image/png")},
                     data={"prompt": "绿色", "settings": json.dumps({"num_frames": 4})})
    assert r.status_code == 202, r.text
    assert r.json()["request"]["image"].startswith("uploads/")
    done = _wait(running, r.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["manifest"]["num_frames"] == 4 and done["manifest"]["inputs"]["prompt"] == "绿色"
    frame = running.get(done["video_url"]).content
    assert len(frame) > 1000


def test_storyboard_task(running, app):
    Image.new("RGB", (64, 64), (250, 0, 0)).save(app.state.data / "inputs" / "red.png")
    board = {"title": "t", "subtitles": "off", "scenes": [
        {"text": "红", "image": "red.png", "duration": 0.5}, "森林"]}
    r = running.post("/api/tasks/", json={"storyboard": board})
    assert r.status_code == 202, r.text
    done = _wait(running, r.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert [s["frames"] for s in done["manifest"]["scenes"]] == [3, 6]
    assert done["subtitles"] is None


def test_cancel_queued_and_finished(idle):
    task = idle.post("/api/tasks/", json={"prompt": "x"}).json()
    assert task["queue_position"] == 0
    r = idle.delete(f"/api/tasks/{task['id']}")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    again = idle.delete(f"/api/tasks/{task['id']}")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_running(running, app):
    task = running.post("/api/tasks/", json={"prompt": "一。二。三。四。五。六。七。八。"}).json()
    deadline = time.monotonic() + 30
    while running.get(f"/api/tasks/{task['id']}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r = running.delete(f"/api/tasks/{task['id']}")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    done = _wait(running, task["id"])
    assert done["status"] == "cancelled" and done["video_url"] is None
    assert running.get(f"/api/tasks/{task['id']}/video").status_code == 409
    assert list((app.state.data / "videos").iterdir()) == []


def test_video_of_unfinished_task(idle):
    task = idle.post("/api/tasks/", json={"prompt": "x"}).json()
    r = idle.get(f"/api/tasks/{task['id']}/video")
    assert r.status_code == 409 and "queued" in r.json()["detail"]
    assert idle.get(f"/api/tasks/{task['id']}/subtitles.vtt").status_code == 404


def test_openapi_docs(idle):
    assert idle.get("/docs").status_code == 200
    spec = idle.get("/openapi.json").json()
    body = spec["paths"]["/api/tasks/"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)


BAD_JSON = [
    # (body, status, words in the message)
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 422, "must be a JSON object"),
    (b'{"prompt": "x", "colour": "red"}', 422, "colour: unknown field; accepted: prompt"),
    (b'{"prompt": 5}', 422, "prompt: Input should be a valid string"),
    (b'{"prompt": ""}', 422, "prompt: String should have at least 1 character"),
    (b'{"prompt": "   "}', 422, "prompt must not be blank"),
    (json.dumps({"prompt": "x" * 2001}).encode(), 422, "at most 2000 characters"),
    (b"{}", 422, "give exactly one of prompt or storyboard"),
    (b'{"prompt": "x", "storyboard": {"scenes": ["a"]}}', 422, "exactly one of"),
    (b'{"prompt": "x", "settings": {"num_frames": 0}}', 422,
     "num_frames=0 is out of range; accepted: from 1 to 1024"),
    (b'{"prompt": "x", "settings": {"height": 100}}', 422, "multiple of 8"),
    (b'{"prompt": "x", "settings": {"num_frame": 3}}', 422, "did you mean 'num_frames'"),
    (b'{"prompt": "x", "settings": {"model": "/etc"}}', 422,
     "model '/etc' cannot be chosen per task"),
    (b'{"prompt": "x", "profile": "huge"}', 422, "unknown profile 'huge'"),
    (b'{"storyboard": {"scenes": []}}', 422, "'scenes' must be a non-empty list"),
    (json.dumps({"prompt": "一。" * 101}).encode(), 422, "makes 101 scenes; accepted: at most"),
    (b'{"storyboard": {"scenes": [{"text": "a", "image": "../../tasks.db"}]}}', 422,
     "outside the folder"),
    (b'{"storyboard": {"scenes": [{"text": "a", "image": "/etc/passwd"}]}}', 422,
     "outside the folder"),
    (b'{"storyboard": {"scenes": ["a"], "music": "../tasks.db"}}', 422, "outside the folder"),
    (b'{"storyboard": {"scenes": [{"text": "a", "settings": {"width": 64}}]}}', 422,
     "cannot be set here"),
]


def _unchanged(app):
    data = app.state.data
    assert app.state.store.counts()["queued"] == 0
    assert list((data / "uploads").iterdir()) == []


@pytest.mark.parametrize("body, status, words", BAD_JSON)
def test_bad_json(idle, app, body, status, words):
    r = idle.post("/api/tasks/", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]
    _unchanged(app)


def test_bad_uploads(idle, app):
    def post(files, data=None, **kw):
        return idle.post("/api/tasks/", files=files, data=data or {}, **kw)

    cases = [
        (post({"image": ("a.txt", b"hello, not an image", "text/plain")}), 415,
         "not a readable image"),
        (post({"image": ("big.bmp", _png((140, 140), fmt="BMP"), "image/bmp")}), 413,
         "larger than 50000 bytes"),
        (post({"image": ("a.png", _png(), "image/png")},
              {"storyboard": json.dumps({"scenes": ["a"]})}), 422, "not a storyboard"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": "{oops"}), 422,
         "settings must be a JSON object"),
        (post({"image": ("a.png", _png(), "image/png")}, {"colour": "red"}), 422,
         "unknown field"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": '{"fps": -1}'}), 422,
         "fps=-1 is out of range"),
        (post({"prompt": (None, "x"), "image": (None, "not a file")}), 422,
         "image must be a file upload"),
        (idle.post("/api/tasks/", content=b"prompt=x",
                   headers={"content-type": "text/plain"}), 415, "unsupported content type"),
        (idle.post("/api/tasks/", content=b"x" * 200_000,
                   headers={"content-type": "multipart/form-data; boundary=b"}), 413,
         "too large"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["detail"], response.json()
    _unchanged(app)


@pytest.mark.parametrize("path", [
    "/api/tasks/nope", "/api/tasks/0123456789abcdef0123456789abcdef",
    "/api/tasks/..%2F..%2Ftasks.db/video", "/api/tasks/0123456789abcdef0123456789abcdef/video",
])
def test_unknown_ids(idle, path):
    r = idle.get(path)
    assert r.status_code == 404
    if path.startswith("/api/tasks/0") or path.endswith("nope"):
        assert "no task with id" in r.json()["detail"]


def test_unknown_id_delete_and_bad_queries(idle):
    assert idle.delete("/api/tasks/" + "f" * 32).status_code == 404
    r = idle.get("/api/tasks?status=done")
    assert r.status_code == 422 and "accepted: queued, running" in r.json()["detail"]
    assert idle.get("/api/tasks?limit=0").status_code == 422


@pytest.mark.slow
def test_lifespan_loads_and_unloads_the_model(tmp_path):
    """The seed's lifecycle: the model is loaded at start and unloaded at shutdown."""
    from svlab.config import load_config
    from svlab.run import clip as run_clip

    app = create_app(tmp_path / "data", load_config("cpu-tiny"))
    with TestClient(app) as client:
        loader = app.state.loader
        assert loader is not None and loader.pipeline is not None
        assert client.get("/api/health").json()["model"] == "tiny"
    assert loader.pipeline is None and "loader" not in run_clip._cache
