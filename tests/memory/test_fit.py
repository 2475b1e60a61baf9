"""The "which model fits my card" table: the planner's recommendation per model and budget."""

import pytest

pytest.importorskip("torch")

from svlab.memory import plan_memory, recommend  # noqa: E402
from svlab.memory.fit import fit_markdown, fit_table  # noqa: E402


def test_each_cell_is_the_recommendation_for_that_budget():
    rows = fit_table(["ltx-video", "wan2.2-i2v-a14b"], budgets_gib=(8, 24, 80))
    ltx, a14b = rows
    assert ltx.peak_bytes == plan_memory("ltx-video", dtype="bf16")["peak_bytes"]
    assert ltx.params["text_encoder"] > ltx.params["transformer"]  # T5-XXL beside a 2B model
    for row in rows:
        for cell in row.cells:
            if cell.fits:
                assert cell.peak_bytes <= 0.9 * cell.vram_bytes
                expected = recommend(row.model, vram_bytes=cell.vram_bytes)
                assert cell.peak_bytes == expected["peak_bytes"]
                assert cell.settings["offload"] == expected["settings"]["offload"]
                chunk = expected["settings"]["decode_chunk_size"]
                assert cell.settings.get("decode_chunk_size", row.num_frames) == chunk
    # 80 GiB holds LTX-Video as it is; A14B's two 14B experts need offloading below that
    assert ltx.cells[-1].settings == {"offload": "none"}
    assert a14b.cells[1].fits and a14b.cells[1].settings["offload"] != "none"
    assert not a14b.cells[0].fits and "nothing fits in 8.00 GiB" in a14b.cells[0].reason


def test_the_markdown_table_has_a_row_per_model_and_a_column_per_budget():
    table = fit_markdown(fit_table(["ltx-video"], budgets_gib=(8, 80)))
    header, rule, row = table.splitlines()
    assert header.split(" | ")[3:5] == ["8 GiB", "80 GiB"]
    assert row.startswith("| `ltx-video` | 512x704, 121 (bf16) |")
    assert "as is: 17.3" in row and "transformer 1.92" in row


def test_a_smaller_decode_chunk_is_named_not_called_as_is():
    (svd,) = fit_table(["svd"], budgets_gib=(12,))
    assert svd.cells[0].settings == {"offload": "none", "decode_chunk_size": 4}
    assert "| decode chunk 4: 8.7 |" in fit_markdown([svd])
