"""The HTTP API through FastAPI's TestClient: the happy path, range requests, and every
kind of bad input (each answered with a 4xx and a one-line JSON detail, changing nothing)."""

from __future__ import annotations

import io
import json
import struct
import time
import zlib

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from svlab.run.settings import load_config
from svlab.work.tasks.api.app import create_app
from svlab.work.tasks.api.limits import ServerLimits
from svlab.work.tasks.api.security import AccessPolicy

PROMPT = "制作一段关于森林探险的短视频"
BASE = "http://127.0.0.1"  # a loopback Host, as the server requires
FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)
LIMITS = ServerLimits(max_frames=40, max_steps=50, max_pixel_frames=64 * 64 * 400,
                      max_seconds=60, task_timeout=60)


def _app(data, **options):
    return create_app(data, load_config("cpu-tiny", overrides=FAST), max_upload_bytes=50_000,
                      limits=LIMITS, **options)


@pytest.fixture
def app(tmp_path):
    return _app(tmp_path / "data")


@pytest.fixture
def idle(app):
    """A client whose worker never starts (no lifespan): tasks stay queued."""
    return TestClient(app, base_url=BASE)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """One running application (worker and runner started) shared by this module's tests."""
    app = _app(tmp_path_factory.mktemp("live") / "data")
    with TestClient(app, base_url=BASE) as client:
        yield app, client


@pytest.fixture
def running(live):
    return live[1]


def _wait(client, task_id, timeout=90):
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


def _png_claiming(width, height):
    """A PNG whose header claims `width` x `height` (no pixel data: a decompression bomb's
    header costs nothing to send)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) \
        + chunk(b"IEND", b"")


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
    assert task["id"] in [t["id"] for t in listed["tasks"]]
    assert "manifest" not in listed["tasks"][0] and listed["counts"]["succeeded"] >= 1
    health = running.get("/api/health").json()
    assert health["status"] == "ok" and health["limits"]["max_frames"] == 40


def test_result_is_one_folder(running, live):
    """A result is published as one folder holding the video, its manifest and captions;
    the manifest the API shows names the data folder's files relative to it."""
    app = live[0]
    data = app.state.server.data
    r = running.post("/api/tasks", files={"image": ("in.png", _png(), "image/png")},
                     data={"prompt": "绿色", "settings": json.dumps({"num_frames": 4})})
    assert r.status_code == 202, r.text
    assert r.json()["request"]["image"].startswith("uploads/")
    done = _wait(running, r.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["manifest"]["num_frames"] == 4 and done["manifest"]["inputs"]["prompt"] == "绿色"
    assert done["manifest"]["inputs"]["image"]["image"] == done["request"]["image"]  # relative
    folder = data.result(done["id"])
    assert sorted(p.suffix for p in folder.iterdir()) == [".json", ".mp4"]
    assert json.loads(data.video(done["id"]).with_suffix(".json").read_text())["num_frames"] == 4
    assert not [p for p in data.videos.iterdir() if p.name.startswith(".")]  # no staging
    assert len(running.get(done["video_url"]).content) > 1000


def test_storyboard_task(running, live):
    inputs = live[0].state.server.data.inputs
    Image.new("RGB", (64, 64), (250, 0, 0)).save(inputs / "red.png")
    board = {"title": "t", "subtitles": "off", "scenes": [
        {"text": "红", "image": "red.png", "duration": 0.5}, "森林"]}
    r = running.post("/api/tasks/", json={"storyboard": board})
    assert r.status_code == 202, r.text
    done = _wait(running, r.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    assert [s["frames"] for s in done["manifest"]["scenes"]] == [3, 6]
    assert done["manifest"]["scenes"][0]["keyframe"]["image"] == "inputs/red.png"
    assert done["subtitles"] is None


def test_cancel_queued_and_finished(idle):
    task = idle.post("/api/tasks/", json={"prompt": "x"}).json()
    assert task["queue_position"] == 0
    r = idle.delete(f"/api/tasks/{task['id']}")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    again = idle.delete(f"/api/tasks/{task['id']}")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_cancel_running(running, live):
    data = live[0].state.server.data
    task = running.post("/api/tasks/", json={"prompt": "一。二。三。四。五。六。七。八。"}).json()
    deadline = time.monotonic() + 60
    while running.get(f"/api/tasks/{task['id']}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    r = running.delete(f"/api/tasks/{task['id']}")
    assert r.status_code == 202 and r.json()["cancel_requested"]
    done = _wait(running, task["id"])
    assert done["status"] == "cancelled" and done["video_url"] is None
    assert running.get(f"/api/tasks/{task['id']}/video").status_code == 409
    assert not data.result(task["id"]).exists()
    assert not [p for p in data.videos.iterdir() if p.name.startswith(".")]


def test_video_of_unfinished_task(idle):
    task = idle.post("/api/tasks/", json={"prompt": "x"}).json()
    r = idle.get(f"/api/tasks/{task['id']}/video")
    assert r.status_code == 409 and "queued" in r.json()["detail"]
    assert idle.get(f"/api/tasks/{task['id']}/subtitles.vtt").status_code == 404


def test_openapi_docs(idle):
    assert idle.get("/docs").status_code == 200
    spec = idle.get("/openapi.json").json()
    post = spec["paths"]["/api/tasks/"]["post"]
    assert {"application/json", "multipart/form-data"} <= set(post["requestBody"]["content"])
    assert {"202", "413", "415", "422", "507"} <= set(post["responses"])
    assert "416" in spec["paths"]["/api/tasks/{task_id}/video"]["get"]["responses"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


DEEP = b'{"prompt": "x", "settings": {"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}"
BAD_JSON = [
    # (body, status, words in the message)
    (b"{not json", 400, "not valid JSON"),
    (b"\xff\xfe{}", 400, "not UTF-8"),
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
    # numbers that are not numbers, refused when the body is read
    (b'{"prompt": "x", "settings": {"noise_aug_strength": NaN}}', 422, "NaN is not a JSON"),
    (b'{"prompt": "x", "settings": {"max_guidance_scale": Infinity}}', 422, "Infinity"),
    (b'{"prompt": "x", "settings": {"min_guidance_scale": -Infinity}}', 422, "-Infinity"),
    (b'{"prompt": "x", "settings": {"noise_aug_strength": 1e999}}', 422, "too large"),
    (b'{"storyboard": {"scenes": [{"text": "a", "duration": NaN}]}}', 422, "NaN"),
    (b'{"prompt": "x", "settings": {"seed": 100000000000000000000}}', 422,
     "integer too large"),
    (DEEP, 422, "nested too deeply"),
    (b'{"prompt": "x", "settings": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": '
     b'{"j": {"k": {"l": {"m": {"n": {"o": {"p": 1}}}}}}}}}}}}}}}}}', 422, "nested too deeply"),
    # shapes that are not what they should be
    (b'{"storyboard": {"scenes": ["a"], "settings": [1]}}', 422, "settings must be a mapping"),
    (b'{"storyboard": {"scenes": ["a"], "settings": "abc"}}', 422, "settings must be a mapping"),
    (b'{"storyboard": {"scenes": ["a"], "settings": {"profile": [1]}}}', 422,
     "profile must be a profile name"),
    (b'{"storyboard": ["a"]}', 422, "storyboard: Input should be a valid dictionary"),
    (b'{"prompt": "x", "settings": "abc"}', 422, "settings: Input should be a valid dict"),
    (b'{"storyboard": {"scenes": [{"text": "a", "image": "a\\u0000b.png"}]}}', 422,
     "contains a NUL character"),
    (b'{"prompt": "x\\ud800"}', 422, "unpaired surrogate"),
    # the server's limits, named with the value asked for
    (b'{"prompt": "x", "settings": {"num_frames": 41}}', 422,
     "num_frames=41 is over this server's limit of 40 frames per clip"),
    (b'{"prompt": "x", "settings": {"num_inference_steps": 51}}', 422,
     "num_inference_steps=51 is over this server's limit of 50"),
    (b'{"prompt": "x", "settings": {"interpolation": "repeat", "target_fps": 1000000}}', 422,
     "target_fps=1000000.0 is out of range"),
    (b'{"prompt": "x", "settings": {"width": 1024, "height": 1024, "fps": 1, '
     b'"interpolation": "repeat", "target_fps": 240}}', 422,
     "pixel-frames per task (svlab serve --max-pixel-frames)"),
    (b'{"storyboard": {"scenes": [{"text": "a", "duration": 61}]}}', 422,
     "output duration=61 is over this server's limit of 60 seconds"),
]


def _unchanged(app):
    server = app.state.server
    assert sum(server.store.counts().values()) == 0
    assert list(server.data.uploads.iterdir()) == []


@pytest.mark.parametrize("body, status, words", BAD_JSON)
def test_bad_json(idle, app, body, status, words):
    r = idle.post("/api/tasks/", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail and "\n" not in detail
    assert str(app.state.server.data.root) not in detail
    _unchanged(app)


def test_nan_never_stored_and_listing_works(idle, app):
    """The probe that used to store a NaN task and break GET /api/tasks for everyone."""
    r = idle.post("/api/tasks/", content=b'{"prompt": "x", "settings": '
                  b'{"noise_aug_strength": NaN}}', headers={"content-type": "application/json"})
    assert r.status_code == 422
    _unchanged(app)
    assert idle.get("/api/tasks").status_code == 200


def test_bad_uploads(idle, app):
    def post(files, data=None, **kw):
        return idle.post("/api/tasks/", files=files, data=data or {}, **kw)

    cases = [
        (post({"image": ("a.txt", b"hello, not an image", "text/plain")}), 415,
         "not a readable image"),
        (post({"image": ("big.bmp", _png((140, 140), fmt="BMP"), "image/bmp")}), 413,
         "larger than 50000 bytes"),
        (post({"image": ("bomb.png", _png_claiming(30000, 30000), "image/png")}), 413,
         "more than 50000000 pixels"),
        (post({"image": ("big.png", _png_claiming(8000, 8000), "image/png")}), 413,
         "image of 8000x8000 has more than 50000000 pixels"),
        (post({"image": ("thin.png", _png((2000, 10)), "image/png")}), 413, "too narrow"),
        (post({"image": ("a.png", _png(), "image/png")},
              {"storyboard": json.dumps({"scenes": ["a"]})}), 422, "not a storyboard"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": "{oops"}), 422,
         "settings must be a JSON object"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": '{"fps": NaN}'}), 422,
         "NaN is not a JSON number"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": "[1]"}), 422,
         "settings: Input should be a valid dictionary"),
        (post({"image": ("a.png", _png(), "image/png")}, {"colour": "red"}), 422,
         "unknown field"),
        (post({"image": ("a.png", _png(), "image/png")}, {"settings": '{"fps": -1}'}), 422,
         "fps=-1 is out of range"),
        (post({"image": ("a.png", _png(), "image/png")}, {"prompt": "a\x00b"}), 422,
         "NUL"),
        (post({"prompt": (None, "x"), "image": (None, "not a file")}), 422,
         "image must be a file upload"),
        (idle.post("/api/tasks/", content=b"prompt=x",
                   headers={"content-type": "text/plain"}), 415, "unsupported content type"),
        (idle.post("/api/tasks/", content=b"x" * 200_000,
                   headers={"content-type": "multipart/form-data; boundary=b"}), 413,
         "too large"),
        (post({"image": ("a.png", _png(), "image/png")}, {f"f{i}": "x" for i in range(7)}),
         400, "cannot read the form: Too many fields"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert words in response.json()["detail"], response.json()
    _unchanged(app)


@pytest.mark.parametrize("path", [
    "/api/tasks/nope", "/api/tasks/0123456789abcdef0123456789abcdef",
    "/api/tasks/..%2F..%2Ftasks.db/video", "/api/tasks/0123456789abcdef0123456789abcdef/video",
    "/api/tasks/%00/video", "/api/tasks/a%00b", "/api/nothing/here",
])
def test_unknown_ids_and_paths(idle, path):
    r = idle.get(path)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    if path.startswith("/api/tasks/0") or path.endswith("nope"):
        assert "no task with id" in r.json()["detail"]


def test_unknown_id_delete_and_bad_queries(idle):
    assert idle.delete("/api/tasks/" + "f" * 32).status_code == 404
    r = idle.get("/api/tasks?status=done")
    assert r.status_code == 422 and "accepted: queued, running" in r.json()["detail"]
    assert idle.get("/api/tasks?limit=0").status_code == 422
    r = idle.put("/api/tasks/")
    assert r.status_code == 405 and r.json()["detail"] == "Method Not Allowed"


def test_host_origin_and_token(tmp_path):
    app = _app(tmp_path / "data", policy=AccessPolicy(token="s3cret-token-0123456789"))
    client = TestClient(app, base_url=BASE)
    auth = {"Authorization": "Bearer s3cret-token-0123456789"}
    body = {"prompt": "x"}
    assert client.post("/api/tasks/", json=body).status_code == 401
    wrong = client.post("/api/tasks/", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    rebound = client.post("/api/tasks/", json=body, headers={**auth, "Host": "evil.example"})
    assert rebound.status_code == 403 and "Host 'evil.example'" in rebound.json()["detail"]
    cross = client.post("/api/tasks/", json=body,
                        headers={**auth, "Origin": "https://evil.example"})
    assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    sneaky = client.post("/api/tasks/", json=body, headers={**auth, "Sec-Fetch-Site":
                                                            "cross-site"})
    assert sneaky.status_code == 403
    assert sum(app.state.server.store.counts().values()) == 0
    own = client.post("/api/tasks/", json=body, headers={**auth, "Origin": BASE})
    assert own.status_code == 202, own.text
    assert client.post("/api/tasks/", json=body, headers=auth).status_code == 202
    assert client.get("/api/tasks/", headers={**auth, "Host": "localhost:8000"}).status_code \
        == 200


def test_error_messages_hide_server_paths(idle, app):
    root = str(app.state.server.data.root)
    for body in ({"storyboard": {"scenes": [{"text": "a", "image": "nope.png"}]}},
                 {"storyboard": {"scenes": ["a"], "music": "nope.mp3"}}):
        detail = idle.post("/api/tasks/", json=body).json()["detail"]
        assert "does not exist" in detail and root not in detail and "/tmp" not in detail


@pytest.mark.slow
def test_model_lifecycle_and_cancel_while_denoising(tmp_path):
    """The seed's lifecycle: the model is loaded once at start (in the runner), a run is
    cancelled between two denoising steps (the runner stays, model loaded), and the model is
    unloaded when the server stops (the runner exits cleanly after unloading it)."""
    app = create_app(tmp_path / "data", load_config("cpu-tiny"))
    with TestClient(app, base_url=BASE) as client:
        deadline = time.monotonic() + 120
        while (health := client.get("/api/health").json())["workers"][0]["state"] != "idle":
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        assert health["model"] == "tiny" and health["workers"][0]["model"] == "tiny"
        runner = app.state.server.workers[0]._runner
        task = client.post("/api/tasks/", json={"prompt": "x", "settings": {
            "num_inference_steps": 100, "num_frames": 4}}).json()
        while not ((p := client.get(f"/api/tasks/{task['id']}").json()["progress"])
                   and p["stage"] == "denoising" and p["step"] >= 2):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        start = time.monotonic()
        assert client.delete(f"/api/tasks/{task['id']}").status_code == 202
        done = _wait(client, task["id"])
        assert done["status"] == "cancelled" and time.monotonic() - start < 6
        assert done["progress"]["stage"] == "denoising" and done["progress"]["step"] < 100
        assert runner.is_alive()  # stopped at a step: no need to end the runner
    assert not runner.is_alive() and runner.exitcode == 0
