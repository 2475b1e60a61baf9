"""The plan cache: a plan asked again answers from disk, with the same figures, without
importing torch or diffusers; a bad or foreign file is never trusted."""

import json
import os
import subprocess
import sys

from svlab.memory import plan_cache
from svlab.memory.counts import ModelCounts
from svlab.memory.plan_cache import PlanRecord, load_record, save_record
from svlab.core.records import TraceStep

PLANS = """
import json, sys
from svlab.memory import plan_memory, recommend
plans = [plan_memory("tiny-wan", dtype="bf16"),
         plan_memory("tiny-wan", dtype="bf16", vae_tiling=True, offload="block"),
         recommend("tiny-wan", vram_bytes="40MiB")]

def timeless(value):  # the seconds a plan took differ between runs
    if isinstance(value, dict):
        return {k: timeless(v) for k, v in value.items() if k != "seconds"}
    return [timeless(v) for v in value] if isinstance(value, list) else value

print(json.dumps({"plans": timeless(plans), "torch": "torch" in sys.modules,
                  "diffusers": "diffusers" in sys.modules}))
"""


def plans_in_fresh_process(cache) -> dict:
    out = subprocess.run([sys.executable, "-c", PLANS], capture_output=True, text=True,
                         check=True, env={**os.environ, "SVLAB_PLAN_CACHE": str(cache)})
    return json.loads(out.stdout.splitlines()[-1])


def test_a_plan_asked_again_answers_from_disk_with_the_same_figures(tmp_path):
    cold = plans_in_fresh_process(tmp_path)
    assert cold["torch"] and cold["diffusers"]
    assert len(list(tmp_path.glob("wan-bf16-*.json"))) == 1
    warm = plans_in_fresh_process(tmp_path)
    assert not warm["torch"] and not warm["diffusers"]
    assert warm["plans"] == cold["plans"]


def counts() -> ModelCounts:
    return ModelCounts(params={"vae": 10}, float_bytes={"vae": 20}, other_bytes={"vae": 0},
                       largest_layer={"vae": 8}, block_group={"vae": 20}, itemsize=2)


def test_a_record_round_trips_and_a_bad_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("SVLAB_PLAN_CACHE", str(tmp_path))
    record = load_record("svd", '{"vae": {}}', "fp16")
    assert record.path.parent == tmp_path and not record.counts and not record.traces
    record.counts[False] = counts()
    record.traces[("cuda", "decoding", 64, 64, 4, 4, "cuda")] = [
        TraceStep("decoding", "vae", 123, "fp32")]
    save_record(record)
    again = load_record("svd", '{"vae": {}}', "fp16")
    assert again.counts == record.counts and again.traces == record.traces
    for text in ("{not json", json.dumps({"format": 99, "counts": {}, "traces": []}),
                 json.dumps({"format": 1, "counts": {"false": {"params": 1}}, "traces": []})):
        record.path.write_text(text)
        broken = load_record("svd", '{"vae": {}}', "fp16")
        assert not broken.counts and not broken.traces


def test_the_file_is_named_by_architecture_dtype_and_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("SVLAB_PLAN_CACHE", str(tmp_path))
    names = {load_record("svd", "a", "fp16").path, load_record("svd", "b", "fp16").path,
             load_record("svd", "a", "bf16").path}
    monkeypatch.setattr(plan_cache, "fingerprint", lambda: "diffusers=another version")
    names.add(load_record("svd", "a", "fp16").path)
    assert len(names) == 4


def test_off_keeps_nothing_and_an_unwritable_folder_costs_only_speed(tmp_path, monkeypatch):
    monkeypatch.setenv("SVLAB_PLAN_CACHE", "off")
    assert load_record("svd", "a", "fp16").path is None
    save_record(PlanRecord(path=None, counts={False: counts()}))  # nothing to write to
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    save_record(PlanRecord(path=blocker / "plans" / "x.json", counts={False: counts()}))
    assert blocker.read_text() == ""


def test_the_fingerprint_changes_with_a_library_version(monkeypatch):
    real = plan_cache.fingerprint()
    monkeypatch.setattr(plan_cache.metadata, "version", lambda name: "0.0.1")
    assert plan_cache.fingerprint.__wrapped__() != real
