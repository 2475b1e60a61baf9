"""`svlab rerun` on crafted and damaged manifests: a manifest is input like any other. Whatever
it holds, the command either reaches generation with settings `generate` would accept, or
exits 2 with one line; never a traceback, and nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import svlab
import svlab.work.rerun as rerun_module
from svlab.face.cli import main
from svlab.core.config import MAX_FRAMES, MAX_SIDE
from svlab.core.records import GenerationResult


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    image = folder / "photo.png"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(image)
    out = folder / "clip.mp4"
    svlab.generate(image=str(image), config={"profile": "cpu-tiny", "model": "fallback",
                                             "num_frames": 4}, out=out)
    return folder, json.loads(out.with_suffix(".json").read_text())


@pytest.fixture
def reached(monkeypatch):
    """generate() replaced: the tests are about what reaches it, not about making frames."""
    calls = []

    def fake(image=None, prompt=None, config=None, out=None, **_):
        calls.append(config)
        return GenerationResult(frames=None, video_path=out, manifest={})

    monkeypatch.setattr(rerun_module, "generate", fake)
    return calls


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
    | st.sampled_from(["../../etc/passwd.mp4", "/tmp/x.mp4", "a/b.mp4", "..", "x.mp4",
                       "fallback", "model", "mixed", "\u00e9\u4e2d"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8)


def _check(code: int, err: str, reached: list, out: Path) -> None:
    assert code in (0, 2), err
    if code == 2:
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert not out.exists() and not out.with_suffix(".json").exists()
    else:
        config = reached[-1]
        assert 1 <= config.num_frames <= MAX_FRAMES
        assert config.height <= MAX_SIDE and config.width <= MAX_SIDE


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_manifest_is_run_within_bounds_or_refused_in_one_line(recorded, reached,
                                                                         tmp_path_factory,
                                                                         capsys, data):
    folder, manifest = recorded
    crafted = copy.deepcopy(manifest)
    paths = [p for p in _paths(crafted) if p]
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(paths))
        parent = crafted
        try:
            for step in where[:-1]:
                parent = parent[step]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    path = folder / "crafted.json"
    path.write_text(json.dumps(crafted))
    out = tmp_path_factory.mktemp("out") / "again.mp4"
    code = main(["rerun", str(path), "--out", str(out)])
    _check(code, capsys.readouterr().err, reached, out)


@pytest.mark.parametrize("change", [
    {"num_frames": 1024, "height": 4096, "width": 4096},  # generate would refuse this
    {"environment": {"torch_threads": 100000}},
    {"output": {"video": "../../escape.mp4"}},
    {"output": {"video": 5}},
    {"inputs": []},
    {"inputs": {"image": "photo.png"}},
    {"model_info": "x"},
    {"recovery": [1, 2]},
    {"engine": ["model"]},
    {"height": "tall"},
    {"seed": 10**400},
])
def test_crafted_examples_exit_2_in_one_line(recorded, reached, tmp_path, capsys, change):
    folder, manifest = recorded
    crafted = {**copy.deepcopy(manifest), **change}
    path = folder / "crafted.json"
    path.write_text(json.dumps(crafted))
    out = tmp_path / "again.mp4"
    code = main(["rerun", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert not reached


@pytest.mark.parametrize("text", ["[" * 100000 + "]" * 100000, "{\"engine\": ", "\xff\xfe",
                                  "", "null"])
def test_damaged_or_deep_manifests_exit_2(tmp_path, capsys, text):
    path = tmp_path / "x.json"
    path.write_bytes(text.encode("latin-1") if text == "\xff\xfe" else text.encode())
    assert main(["rerun", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_an_oversized_manifest_is_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "big.json"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    assert main(["rerun", str(path)]) == 2
    assert "accepted: at most" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["same", "symlink", "hardlink", "relative", "manifest-link"])
def test_rerun_never_writes_over_its_inputs(recorded, reached, tmp_path, capsys, monkeypatch,
                                            target):
    folder, _ = recorded
    manifest, video, image = folder / "clip.json", folder / "clip.mp4", folder / "photo.png"
    before = {p: p.read_bytes() for p in (manifest, video, image)}
    out = video
    if target == "symlink":
        out = tmp_path / "link.mp4"
        out.symlink_to(video)
    elif target == "hardlink":
        out = tmp_path / "hard.mp4"
        out.hardlink_to(video)
    elif target == "manifest-link":  # the new manifest (out.json) would be the old one
        out = tmp_path / "new.mp4"
        (tmp_path / "new.json").symlink_to(manifest)
    elif target == "relative":
        monkeypatch.chdir(tmp_path)
        out = Path(*[".."] * len(tmp_path.parts[1:]), *video.parts[1:])
    assert main(["rerun", str(manifest), "--out", str(out)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert not reached
    assert {p: p.read_bytes() for p in before} == before
