import numpy as np
import pytest

from svlab.face import figures


def test_markdown_table_keys_titles_functions_and_number_formats():
    rows = [{"method": "flow", "psnr": 30.123, "ssim": 0.94771, "seconds_per_frame": 0.08769,
             "clips": ["a", "b"]}]
    table = figures.markdown_table(rows, ["method", "psnr", "ssim", "seconds_per_frame", "clips",
                                          ("double", lambda r: r["psnr"] * 2)])
    header, rule, line = table.splitlines()
    assert header == "| method | psnr | ssim | seconds_per_frame | clips | double |"
    assert rule == "| --- | --- | --- | --- | --- | --- |"
    assert line == "| flow | 30.12 | 0.9477 | 0.088 | a, b | 60.25 |"


def test_memory_profile_table_and_plot():
    rows = [{"height": 64, "width": 64, "num_frames": 4, "decode_chunk_size": 2,
             "stage": "decoding", "measured_bytes": 3 * 2**20, "predicted_bytes": 2**21,
             "ratio": 0.6667, "seconds": 0.1}]
    table = figures.memory_profile_table(rows)
    assert "| 64x64 | 4 | 2 | decoding | 3.0 | 2.0 | 0.667 | 0.100 |" in table
    fig = figures.memory_profile_plot(rows, "tiny")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["measured",
                                                                            "predicted"]


def test_recommendations_table_explains_an_impossible_budget():
    table = figures.recommendations_table("svd-xt", 576, 1024, 25, ["0.5"])
    assert "| 0.5 |" in table and "smallest" in table


@pytest.mark.parametrize("factor", [2, 4])
def test_interpolated_strip_labels_inputs_and_in_betweens(factor):
    strip = np.zeros((factor + 1, 8, 8, 3), np.uint8)
    fig = figures.interpolated_strip_plot(strip, factor)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == titles[-1] == "input" and titles[1] == f"t = 1/{factor}"


def test_frame_strip_labels_frames_and_keeps_tiny_pixels_sharp():
    frames = np.zeros((14, 32, 48, 3), np.uint8)
    strip = figures.frame_strip(frames, count=5)
    assert [ax.get_title() for ax in strip.axes] == [f"frame {i}" for i in (0, 3, 6, 10, 13)]
    assert {ax.images[0].get_interpolation() for ax in strip.axes} == {"nearest"}
    big = figures.frame_strip(np.zeros((2, 240, 320, 3), np.uint8), count=2)
    assert {ax.images[0].get_interpolation() for ax in big.axes} == {"antialiased"}


def test_stage_chart_shows_what_each_stage_added_and_the_peak():
    MiB = 2**20
    chart = figures.stage_chart({"device": "cpu", "stages": {
        "load": {"seconds": 1.0, "peak_bytes": 300 * MiB, "added_bytes": 300 * MiB},
        "denoising": {"seconds": 3.0, "peak_bytes": 420 * MiB, "added_bytes": 120 * MiB},
        "decoding": {"seconds": 0.5, "peak_bytes": 350 * MiB, "added_bytes": 50 * MiB}}})
    time_ax, mem_ax = chart.axes[:2]
    assert [p.get_width() for p in time_ax.patches] == [1.0, 3.0, 0.5]
    assert [p.get_width() for p in mem_ax.patches] == [300.0, 120.0, 50.0]  # not the peaks
    (peak,) = mem_ax.get_lines()
    assert peak.get_xdata()[0] == 420.0
    labels = [t.get_text() for t in mem_ax.get_legend().get_texts()]
    assert labels == ["peak of the run: 420 MiB (denoising)", "added by the stage"] or \
        labels == ["added by the stage", "peak of the run: 420 MiB (denoising)"]


def test_interpolation_scores_start_at_zero_and_the_legend_covers_no_bar():
    rows = [{"clip": c, "method": m, "psnr": p, "seconds_per_frame": s}
            for c in ("a", "b") for m, p, s in (("blend", 24.0, 0.01), ("flow", 31.0, 0.1))]
    fig = figures.interpolation_scores_plot(rows, ["blend", "flow"])
    psnr_ax = fig.axes[0]
    assert psnr_ax.get_ylim()[0] == 0
    assert psnr_ax.get_legend() is None and len(fig.legends) == 1
    fig.canvas.draw()
    legend_box = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        assert not legend_box.overlaps(ax.get_window_extent())
