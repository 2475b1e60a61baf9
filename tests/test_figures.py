import numpy as np
import pytest

from svlab import figures


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
