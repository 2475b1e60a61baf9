"""Sweep, storyboard and config files as a hostile user writes them: bounded work, one line and
exit 2 (with --dry-run too), never a traceback; a foreign results.csv is never replaced."""

from __future__ import annotations

import errno
import time

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import svlab
from svlab.core.bounded import MAX_FILE_BYTES
from svlab.face.cli import main
from svlab.core.text_caps import MAX_PROMPT_CHARS

FALLBACK = {"profile": "cpu-tiny", "model": "fallback", "num_frames": 2}


def _refused(code, capsys, *words):
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert len(err) < 2000, err[:300]
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (90, 160, 40)).save(path)
    return path


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}]\n" for i in range(10))


@pytest.mark.parametrize("kind", ["sweep", "story", "generate-config"])
def test_an_alias_bomb_is_refused_at_once(tmp_path, capsys, photo, kind):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    argv = {"sweep": ["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"],
            "story": ["story", str(path), "--out", str(tmp_path / "o.mp4")],
            "generate-config": ["generate", "--image", str(photo), "--config", str(path),
                                "--out", str(tmp_path / "o.mp4")]}[kind]
    started = time.monotonic()
    _refused(main(argv), capsys, "alias")
    assert time.monotonic() - started < 5
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("name", ["s.yaml", "s.json"])
def test_oversized_files_are_refused_before_reading(tmp_path, capsys, name):
    path = tmp_path / name
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]), capsys,
             "accepted: at most")


def test_a_huge_seed_count_is_refused_before_anything_is_allocated(tmp_path, capsys, photo):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": FALLBACK, "inputs": [{"image": str(photo)}],
                                    "seeds": 10**12}))
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]), capsys,
             "runs")
    path.write_text(yaml.safe_dump({"base": FALLBACK, "inputs": [{"image": str(photo)}]})
                    + "seeds: " + "9" * 400 + "\n")
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]), capsys)


def test_a_path_under_an_unknown_user_is_one_line(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": FALLBACK,
                                    "inputs": [{"image": "~nouser-svlab/x.png"}]}))
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]), capsys,
             "~nouser-svlab")


def test_the_prompt_cap_is_the_same_everywhere_and_checked_by_dry_run(tmp_path, capsys,
                                                                      photo):
    long = "x" * (MAX_PROMPT_CHARS + 1)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": FALLBACK, "inputs": [{"prompt": long}]}))
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o"), "--dry-run"]), capsys,
             str(MAX_PROMPT_CHARS))
    _refused(main(["generate", "--image", str(photo), "--prompt", long, "--model", "fallback",
                   "--profile", "cpu-tiny", "--out", str(tmp_path / "g.mp4")]), capsys,
             str(MAX_PROMPT_CHARS))
    board = tmp_path / "b.yaml"
    board.write_text(yaml.safe_dump({"scenes": [{"text": long}]}))
    _refused(main(["story", str(board), "--out", str(tmp_path / "b.mp4")]), capsys,
             str(MAX_PROMPT_CHARS))
    from svlab.work.tasks.api.schemas import MAX_PROMPT_CHARS as api_cap
    assert api_cap == MAX_PROMPT_CHARS


def test_a_foreign_results_csv_is_never_replaced(tmp_path, capsys, photo):
    spec = {"base": FALLBACK, "inputs": [{"image": str(photo)}], "grid": {"seed": [1, 2]}}
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.csv").write_text("name,score\nalice,3\n")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec))
    _refused(main(["sweep", str(path), "--out", str(out)]), capsys, "results.csv")
    assert (out / "results.csv").read_text() == "name,score\nalice,3\n"
    other = tmp_path / "other"
    svlab.sweep({**spec, "grid": {"seed": [7]}}, other, progress=False)
    table = (other / "results.csv").read_text()
    _refused(main(["sweep", str(path), "--out", str(other)]), capsys, "another sweep")
    assert (other / "results.csv").read_text() == table
    # the same sweep, grown, keeps its own table
    svlab.sweep({**spec, "grid": {"seed": [1]}}, tmp_path / "mine", progress=False)
    assert main(["sweep", str(path), "--out", str(tmp_path / "mine")]) == 0


def test_disk_full_while_writing_the_table_is_one_line(tmp_path, capsys, photo, monkeypatch):
    import svlab.work.sweep.results as results

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(results.pd.DataFrame if hasattr(results, "pd") else
                        __import__("pandas").DataFrame, "to_csv", full)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": FALLBACK, "inputs": [{"image": str(photo)}]}))
    _refused(main(["sweep", str(path), "--out", str(tmp_path / "o")]), capsys,
             "No space left")
    assert not list((tmp_path / "o").glob("*results*"))


# -- generated sweep files ----------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-(10**20), 10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=6)
setting = st.sampled_from(["seed", "num_frames", "height", "width", "fps", "model", "profile",
                           "motion_bucket_id", "bogus", "num_inference_steps"])
sections = st.fixed_dictionaries({}, optional={
    "base": st.dictionaries(setting, values, max_size=3) | values,
    "inputs": st.lists(st.fixed_dictionaries({}, optional={"image": values, "prompt": values,
                                                           "folder": values}), max_size=2)
    | values,
    "grid": st.dictionaries(setting, st.lists(values, max_size=3) | values, max_size=2),
    "zip": st.dictionaries(setting, st.lists(values, max_size=3), max_size=2),
    "runs": st.lists(st.dictionaries(setting, values, max_size=2), max_size=2) | values,
    "seeds": st.integers(-5, 10**15) | values,
})


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=sections, as_json=st.booleans())
def test_generated_sweep_files_dry_run_or_refuse_in_one_line(tmp_path_factory, capsys, body,
                                                             as_json):
    import json

    folder = tmp_path_factory.mktemp("gen")
    path = folder / ("s.json" if as_json else "s.yaml")
    try:
        path.write_text(json.dumps(body) if as_json else yaml.safe_dump(body))
    except (ValueError, yaml.YAMLError):
        return
    code = main(["sweep", str(path), "--out", str(folder / "o"), "--dry-run", "--json"])
    captured = capsys.readouterr()
    assert code in (0, 2), captured.err
    if code == 2:
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
        assert len(captured.err) < 4000
    assert not (folder / "o" / "results.csv").exists()
