import pytest

from svlab.core.errors import ConfigError
from svlab.run.settings import load_config
from svlab.memory import parse_bytes, plan_memory, recommend, recommend_for
from svlab.memory.planner import candidates

GiB = 2**30


@pytest.mark.parametrize("text, value", [
    ("8GiB", 8 * GiB), ("8gib", 8 * GiB), ("7.5GB", 7_500_000_000), ("512 MiB", 512 * 2**20),
    ("6000MB", 6_000_000_000), ("1TiB", 2**40),
])
def test_parse_bytes_reads_binary_and_decimal_units(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["8", "eight GiB", "8XB", "-1GiB", "0GiB", "", "8 G iB"])
def test_parse_bytes_rejects_what_it_cannot_read(text):
    with pytest.raises(ConfigError, match="memory size"):
        parse_bytes(text)


def test_candidates_go_from_fastest_to_slowest():
    order = candidates(25)
    assert order[0] == {"offload": "none", "forward_chunking": False, "decode_chunk_size": 25}
    assert order[-1] == {"offload": "sequential", "forward_chunking": True,
                         "decode_chunk_size": 1}
    assert [c["decode_chunk_size"] for c in order[:6]] == [25, 14, 8, 4, 2, 1]
    assert {c["decode_chunk_size"] for c in candidates(6)} == {6, 4, 2, 1}


def test_a_large_budget_keeps_the_fastest_setting():
    rec = recommend("svd-xt", 576, 1024, 25, 80 * GiB)
    assert rec["overrides"] == {"offload": "none", "forward_chunking": False,
                                "decode_chunk_size": 25, "dtype": "fp16"}
    assert rec["peak_bytes"] <= rec["budget_bytes"] == int(80 * GiB * 0.9)


def test_an_8gib_card_gets_the_first_setting_that_fits():
    rec = recommend("svd-xt", 576, 1024, 25, "8GiB")
    assert rec["peak_bytes"] <= rec["budget_bytes"] < 8 * GiB
    chosen = rec["considered"][-1]
    assert chosen["fits"] and all(not c["fits"] for c in rec["considered"][:-1])
    # what was skipped is slower-ranked than nothing that fits: every faster candidate either
    # was tried and failed, or was pruned because its denoising alone does not fit
    tried = [{k: c[k] for k in ("offload", "forward_chunking", "decode_chunk_size")}
             for c in rec["considered"]]
    faster = candidates(25)[:candidates(25).index(tried[-1])]
    for cand in faster:
        if cand not in tried:
            plan = plan_memory("svd-xt", offload=cand["offload"],
                               forward_chunking=cand["forward_chunking"],
                               decode_chunk_size=cand["decode_chunk_size"])
            assert plan["stages"]["denoising"]["peak_bytes"] > rec["budget_bytes"]
    # the recommendation's plan is the plan of its settings
    again = plan_memory("svd-xt", **{k: v for k, v in rec["overrides"].items()})
    assert again["peak_bytes"] == rec["peak_bytes"]
    assert any("fastest setting that fits" in line for line in rec["reasoning"])


def test_an_impossible_budget_names_the_smallest_peak_achievable():
    least = plan_memory("svd-xt", offload="sequential", forward_chunking=True,
                        decode_chunk_size=1)
    for budget in ("1GiB", "4GiB"):  # 4 GiB: some candidates are pruned, not traced
        with pytest.raises(ConfigError, match="smallest predicted peak is "
                           f"{least['peak_bytes'] / GiB:.2f} GiB") as e:
            recommend("svd-xt", 576, 1024, 25, budget)
        assert "offload=sequential, decode chunk 1, forward chunking" in str(e.value)


def test_headroom_must_leave_a_budget():
    with pytest.raises(ConfigError, match="headroom"):
        recommend("tiny", 64, 64, 4, "1GiB", "fp32", headroom=1.0)


def test_recommend_for_a_config_reads_its_model_size_and_guidance():
    config = load_config("standard", overrides={"model": "svd-xt", "height": 512,
                                                "width": 768, "num_frames": 14})
    rec = recommend_for(config, "16GiB")
    assert rec["plan"]["settings"]["height"] == 512 and rec["plan"]["settings"]["width"] == 768
    assert rec["plan"]["settings"]["num_frames"] == 14
    assert rec["overrides"] == recommend("svd-xt", 512, 768, 14, "16GiB")["overrides"]
    # without guidance the UNet runs at batch 1: the same setting needs less memory
    no_guidance = recommend_for(config.replace(min_guidance_scale=1.0, max_guidance_scale=1.0),
                                "80GiB")
    with_guidance = recommend_for(config, "80GiB")
    assert (no_guidance["plan"]["stages"]["denoising"]["peak_bytes"]
            < with_guidance["plan"]["stages"]["denoising"]["peak_bytes"])


def test_fit_to_vram_gives_a_config_whose_plan_fits(monkeypatch):
    from svlab.memory import fit_to_vram

    monkeypatch.setenv("SVLAB_VRAM", "8GiB")
    config = load_config("standard", overrides={"model": "svd-xt"})
    fitted = fit_to_vram(config)
    plan = plan_memory("svd-xt", offload=fitted.offload, dtype=fitted.dtype,
                       decode_chunk_size=fitted.decode_chunk_size,
                       forward_chunking=fitted.forward_chunking)
    assert plan["peak_bytes"] <= 0.9 * 8 * GiB
    assert fitted.offload != "none"  # SVD-XT at 1024x576 does not fit 8 GiB without offload
    assert (fitted.height, fitted.width, fitted.num_frames, fitted.seed) == (576, 1024, 25, 42)
