"""Generated requests against a real server on loopback.

hypothesis writes request bodies (settings, storyboards, prompts, and JSON that is not quite
JSON: NaN, Infinity, huge numbers, deep nesting) and checks the API's promises for each: a
202, or a 4xx whose body is JSON with a one-line `detail`; never a 5xx; nothing stored for a
refused request; and, at the end, every stored task finished. schemathesis then drives every
operation from the server's own OpenAPI schema and checks the answers against it.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from servers import FINISHED, Server

from svlab.core.config import setting_names

pytestmark = pytest.mark.slow

# Tight limits keep every accepted task to a few seconds of the fallback engine.
LIMITS = ["--max-frames", "12", "--max-steps", "4", "--max-pixel-frames", "300000",
          "--max-seconds", "5", "--task-timeout", "30", "--max-upload-mb", "1"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("props") / "data", *LIMITS)
    server.wait_ready()
    yield server
    server.stop()


# -- what a client might send ---------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) |
    st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
PLAUSIBLE = {
    "num_frames": st.integers(0, 16), "num_inference_steps": st.integers(1, 6),
    "width": st.sampled_from([8, 32, 64, 63, 72]), "height": st.sampled_from([8, 32, 64, 100]),
    "fps": st.integers(-1, 12), "seed": st.integers(-1, 2**64),
    "noise_aug_strength": st.floats(-1, 11) | st.sampled_from([float("nan"), float("inf")]),
    "interpolation": st.sampled_from(["none", "repeat", "blend", "flow", "bogus"]),
    "interpolation_factor": st.integers(0, 4), "target_fps": st.floats(0, 30),
    "quality": st.integers(-1, 52), "model": st.sampled_from(["fallback", "/etc", "nope"]),
    "profile": st.sampled_from(["cpu-tiny", "standard", "huge"]),
    "lossless": st.booleans(), "motion_bucket_id": st.integers(-5, 2000),
}
setting_keys = st.sampled_from([*setting_names(), "profile", "num_frame", "processing"])
setting_maps = st.dictionaries(setting_keys, st.one_of(json_values, *PLAUSIBLE.values()),
                               max_size=4) | st.fixed_dictionaries({}, optional=PLAUSIBLE)
prompts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=60) | \
    st.lists(st.sampled_from(["森林", "a fox", "。", "，", ". ", "!", "x"]), max_size=8).map("".join)
scenes = st.one_of(prompts, st.fixed_dictionaries(
    {"text": prompts},
    optional={"duration": st.one_of(st.floats(allow_nan=True), st.integers(-1, 700)),
              "settings": setting_maps | json_values,
              "image": st.sampled_from(["nope.png", "../tasks.db", "/etc/passwd", "a\x00b"])}))
storyboards = st.fixed_dictionaries(
    {"scenes": st.lists(scenes, max_size=3) | json_values},
    optional={"title": prompts | json_values, "subtitles": st.sampled_from(["on", "off", "x"]),
              "crossfade": st.floats(allow_nan=True), "settings": setting_maps | json_values,
              "volume": json_values, "colour": json_values})
# Mostly valid requests, so that many are accepted and run.
VALID = {"num_frames": st.integers(2, 8), "seed": st.integers(0, 2**63 - 1),
         "fps": st.integers(2, 12), "interpolation": st.sampled_from(["none", "repeat",
                                                                       "blend", "flow"]),
         "quality": st.integers(0, 51), "noise_aug_strength": st.floats(0, 10)}
likely = st.fixed_dictionaries(
    {"prompt": st.lists(st.sampled_from(["森林", "a fox", "。", "，", ". ", "x"]), min_size=1,
                        max_size=5).map("".join)},
    optional={"settings": st.fixed_dictionaries({}, optional=VALID)})
bodies = st.one_of(
    likely, likely,
    st.fixed_dictionaries({"prompt": prompts}, optional={"settings": setting_maps,
                                                         "profile": PLAUSIBLE["profile"]}),
    st.fixed_dictionaries({"storyboard": storyboards}, optional={"settings": setting_maps}),
    st.dictionaries(st.sampled_from(["prompt", "storyboard", "settings", "profile", "x"]),
                    json_values, max_size=3),
    json_values)


def _total(server) -> int:
    return sum(server.client.get("/api/tasks").json()["counts"].values())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, ctype=st.sampled_from(["application/json", "Application/JSON",
                                           "application/json; charset=utf-8"]))
def test_generated_requests(server, body, ctype):
    text = json.dumps(body, allow_nan=True)  # NaN and Infinity as Python writes them
    before = _total(server)
    r = server.client.post("/api/tasks/", content=text.encode(),
                           headers={"Content-Type": ctype})
    assert r.status_code == 202 or 400 <= r.status_code < 500, (r.status_code, r.text, text)
    event(f"status {r.status_code}")
    if r.status_code == 202:
        assert _total(server) == before + 1
        return
    assert r.headers["content-type"] == "application/json", r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, detail
    assert _total(server) == before, f"a refused request was stored: {text}"


def test_every_stored_task_finishes(server):
    """Runs after the generated requests: whatever was accepted reaches a terminal state."""
    listed = server.client.get("/api/tasks?limit=1000").json()
    for task in listed["tasks"]:
        done = server.wait(task["id"], timeout=180)
        assert done["status"] in FINISHED
        if done["status"] == "failed":
            assert "internal error" not in done["error"], done
    counts = server.client.get("/api/tasks").json()["counts"]
    assert counts["queued"] == counts["running"] == 0


def test_openapi_schema(server):
    """Every operation, driven from /openapi.json (schemathesis, through its hypothesis
    strategy): no 5xx, and each answer's status, content type and body as the schema
    declares them."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    checks = [schemathesis.checks.not_a_server_error,
              schemathesis.checks.status_code_conformance,
              schemathesis.checks.content_type_conformance,
              schemathesis.checks.response_schema_conformance]
    seen = set()

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=schema.as_strategy())
    def call(case):
        seen.add((case.method, case.path))
        event(f"{case.method} {case.path}")
        case.call_and_validate(base_url=server.url, checks=checks)

    call()
    assert len(seen) >= 6, seen  # every documented operation was exercised


def test_schema_driven_tasks_finish(server):
    """The tasks schemathesis queued run too (cancelled here if still queued: a DELETE of
    each is itself a request of the API, and a finished state)."""
    deadline = time.monotonic() + 180
    for task in server.client.get("/api/tasks?status=queued&limit=1000").json()["tasks"]:
        server.client.delete(f"/api/tasks/{task['id']}")
    while server.client.get("/api/tasks").json()["counts"]["running"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert httpx.get(f"{server.url}/api/health").json()["status"] == "ok"
