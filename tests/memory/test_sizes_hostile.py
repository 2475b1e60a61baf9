"""Sizes and the plan cache as a hostile user leaves them: a 400-digit memory size is one
line, not an OverflowError; a plan cache of wrong types or wrong numbers is ignored and
rebuilt, never believed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svlab.face.cli import main
from svlab.core.errors import ConfigError
from svlab.memory.counts import ModelCounts
from svlab.memory.plan_cache import load_record, save_record
from svlab.memory.planner import parse_bytes
from svlab.core.records import TraceStep


@pytest.mark.parametrize("text", ["9" * 400 + "GiB", "1e400GB", "9" * 30 + "TiB", "1" * 5000 + "B"])
def test_a_huge_memory_size_is_refused(text):
    with pytest.raises(ConfigError, match="too large|cannot read"):
        parse_bytes(text)


def test_a_huge_vram_flag_and_env_are_one_line(capsys, monkeypatch, tmp_path):
    assert main(["plan", "--model", "tiny", "--vram", "9" * 400 + "GiB"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 400, err
    from svlab.work.sweep.dryrun import device_budget  # where SVLAB_VRAM is read
    monkeypatch.setenv("SVLAB_VRAM", "9" * 400 + "GiB")
    with pytest.raises(ConfigError):
        device_budget("cuda")


def _counts(**change):
    base = dict(params={"vae": 10}, float_bytes={"vae": 20}, other_bytes={"vae": 0},
                largest_layer={"vae": 8}, block_group={"vae": 20}, itemsize=2)
    return {**base, **change}


bad_values = st.one_of(st.none(), st.booleans(), st.text(max_size=5),
                       st.integers(max_value=-1), st.integers(min_value=2**51),
                       st.floats(), st.lists(st.integers(), max_size=2))


@given(field=st.sampled_from(["params", "float_bytes", "largest_layer", "itemsize",
                              "activation_bytes", "stage", "key"]), value=bad_values)
def test_a_plan_cache_with_wrong_types_or_numbers_is_ignored(tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("plans")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SVLAB_PLAN_CACHE", str(folder))
        record = load_record("svd", '{"vae": {}}', "fp16")
        record.counts[False] = ModelCounts(**_counts())
        record.traces[("cpu", "decoding", 64)] = [TraceStep("decoding", "vae", 123, "fp32")]
        save_record(record)
        data = json.loads(record.path.read_text())
        if field in ("params", "float_bytes", "largest_layer"):
            data["counts"]["false"][field] = {"vae": value}
        elif field == "itemsize":
            if value in (1, 2, 4, 8) and not isinstance(value, bool):
                return
            data["counts"]["false"]["itemsize"] = value
        elif field == "activation_bytes":
            data["traces"][0]["steps"][0]["activation_bytes"] = value
        elif field == "stage":
            if isinstance(value, str):
                return
            data["traces"][0]["steps"][0]["stage"] = value
        else:
            data["traces"][0]["key"] = [value, {"x": 1}]
        record.path.write_text(json.dumps(data))
        again = load_record("svd", '{"vae": {}}', "fp16")
        assert not again.counts and not again.traces
