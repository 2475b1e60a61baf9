import sys
import time

import pytest
import torch

from svlab.memory import StageTracker

MiB = 1 << 20
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="CPU peaks come from /proc/self/status")


def _warm_up():
    # The first matmul of a shape allocates BLAS packing buffers (~7 MiB here) once: keep that
    # one-time cost out of the stages.
    with torch.no_grad():
        torch.nn.Linear(2048, 4096)(torch.ones(2048, 2048))


@linux_only
def test_cpu_stages_measure_weights_and_activations_of_known_size():
    _warm_up()
    tracker = StageTracker("cpu")
    with tracker.stage("load"):
        layer = torch.nn.Linear(2048, 4096)  # 32 MiB of float32 weights (+16 KiB bias)
    x = torch.ones(2048, 2048)  # 16 MiB input, made outside any stage
    with torch.no_grad(), tracker.stage("forward"):
        y = layer(x)  # 32 MiB output
    weights = sum(p.numel() * p.element_size() for p in layer.parameters())
    table = tracker.table()
    assert list(table) == ["load", "forward"]
    assert table["load"].peak_bytes == pytest.approx(weights, rel=0.1, abs=4 * MiB)
    assert table["forward"].added_bytes == pytest.approx(y.nbytes, rel=0.1, abs=4 * MiB)
    # peak: weights + input + output, all counted from the tracker's baseline
    expected = weights + x.nbytes + y.nbytes
    assert table["forward"].peak_bytes == pytest.approx(expected, rel=0.1, abs=4 * MiB)
    assert table["forward"].seconds > 0
    assert tracker.peak_bytes() == table["forward"].peak_bytes


@linux_only
def test_cpu_peak_sees_memory_freed_before_the_stage_ends():
    _warm_up()
    tracker = StageTracker("cpu")
    with tracker.stage("transient"):
        a = torch.ones(16 * MiB)  # 64 MiB, freed inside the stage
        del a
        b = torch.ones(2 * MiB)  # 8 MiB, still live at the end
    assert tracker.table()["transient"].added_bytes == pytest.approx(64 * MiB, rel=0.1)
    del b
    with tracker.stage("after"):  # the freed 64 MiB is not charged to the next stage
        c = torch.ones(4 * MiB)
    assert tracker.table()["after"].added_bytes == pytest.approx(16 * MiB, rel=0.15)
    del c


@linux_only
def test_repeated_stage_adds_seconds_and_keeps_the_largest_peak():
    """A storyboard's clips reuse stage names: seconds add up, memory is the largest peak
    (16 MiB, then 4 MiB: their sum, 20 MiB, would be wrong)."""
    _warm_up()
    tracker = StageTracker("cpu")
    spent = 0.0
    for n in (1 << 22, 1 << 20):
        start = time.perf_counter()
        with tracker.stage("decoding"):
            torch.ones(n)
        spent += time.perf_counter() - start
    row = tracker.table()["decoding"]
    assert row.added_bytes == pytest.approx(16 * MiB, rel=0.1)
    assert row.peak_bytes == pytest.approx(16 * MiB, rel=0.1, abs=2 * MiB)
    assert 0 < row.seconds <= spent


def test_stage_is_recorded_when_its_block_raises_and_stages_do_not_nest():
    tracker = StageTracker("cpu")
    with pytest.raises(ValueError):
        with tracker.stage("denoising"):
            raise ValueError("out of memory, say")
    assert "denoising" in tracker.table()
    with tracker.stage("outer"):
        with pytest.raises(RuntimeError, match="inside stage 'outer'"):
            with tracker.stage("inner"):
                pass
    assert list(tracker.table()) == ["denoising", "outer"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_stage_peak_counts_a_transient_allocation():
    tracker = StageTracker("cuda")
    with tracker.stage("a"):
        x = torch.empty(64 * MiB, dtype=torch.uint8, device="cuda")
        del x
    assert tracker.table()["a"].added_bytes == 64 * MiB
