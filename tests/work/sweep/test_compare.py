"""`svlab compare`: the runs of a sweep side by side, with the right tiles, size and length,
and a contact sheet."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import svlab
from svlab.face.cli import main
from svlab.media import probe, read_video

FALLBACK = {"profile": "cpu-tiny", "model": "fallback", "lossless": True}


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, photo):
    """A seed x num_frames sweep of the fallback engine (fast, real videos): clips of 4 and
    7 frames, so the shorter ones must be held to the longest."""
    folder = tmp_path_factory.mktemp("compare")
    Image.fromarray(photo).save(folder / "photo.png")
    svlab.sweep({"base": FALLBACK, "inputs": [{"image": str(folder / "photo.png")}],
                 "grid": {"seed": [1, 2], "num_frames": [4, 7]}}, folder / "s", progress=False)
    return folder / "s"


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_the_grid_has_the_right_tiles_size_and_length(sweep_dir, capsys):
    out = sweep_dir / "grid.mp4"
    code = main(["compare", str(sweep_dir), "--by", "seed", "num_frames", "--out", str(out),
                 "--tile-width", "64", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    layout = report["layout"]
    assert (layout["columns"], layout["rows"]) == (2, 2)  # a column per num_frames value
    assert report["labels"] == ["seed=1\nnum_frames=4", "seed=1\nnum_frames=7",
                                "seed=2\nnum_frames=4", "seed=2\nnum_frames=7"]
    facts = probe(out)
    band = layout["band"]
    assert (facts["width"], facts["height"]) == (2 * 64, 2 * (64 + band))
    assert facts["frames"] == 7 and facts["fps"] == 6  # the longest clip, at its rate
    grid, _ = read_video(out)
    table = svlab.read_results(sweep_dir).set_index("key")
    for i, key in enumerate(report["keys"]):
        clip, _ = read_video(sweep_dir / table.loc[key, "video"])
        x, y = (i % 2) * 64, (i // 2) * (64 + band)
        tile = grid[:, y + band:y + band + 64, x:x + 64]
        shown = [psnr(tile[t], clip[min(t, len(clip) - 1)]) for t in range(7)]
        assert min(shown) > 28, (key, shown)  # its own frames, then its last one held
        label = grid[0, y:y + band, x:x + 64]
        assert label.max() > 180 and np.median(label) < 60  # light text on a dark band
    sheet = Image.open(report["sheet"])
    assert report["sheet"] == str(out.with_suffix(".png"))
    assert sheet.height > 4 * 96 and sheet.width > 7 * 96  # a row per run, 7 frame columns


def test_compare_filters_and_refuses_unknown_settings(sweep_dir, tmp_path, capsys):
    result = svlab.compare(sweep_dir, tmp_path / "g.mp4", where=["seed=2"], by=["num_frames"])
    assert len(result.keys) == 2 and result.labels == ["num_frames=4", "num_frames=7"]
    assert probe(result.video)["width"] == 2 * 192  # tiny clips scaled up to be readable
    assert main(["compare", str(sweep_dir), "--by", "sead", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "unknown setting 'sead' (did you mean 'seed'?)" in capsys.readouterr().err
    assert main(["compare", str(sweep_dir), "--where", "seed=9",
                 "--out", str(tmp_path / "x.mp4")]) == 2
    assert "no finished run in" in capsys.readouterr().err
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "no sweep results at" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists()


def test_every_tile_label_tells_its_run_apart(sweep_dir, tmp_path):
    """`--by seed` over a seed x num_frames sweep: num_frames joins the labels, which would
    otherwise say seed=1 twice."""
    result = svlab.compare(sweep_dir, tmp_path / "g.mp4", by=["seed"])
    assert len(set(result.labels)) == len(result.labels) == 4
    assert result.labels[0] == "seed=1\nnum_frames=4"
    assert main(["compare", str(sweep_dir), "--by", "seed", "--out", str(tmp_path / "c.mp4"),
                 "--json"]) == 0


def test_any_manifests_side_by_side(sweep_dir, tmp_path, capsys):
    """Runs named by their manifests (or videos), wherever they are: labelled by the settings
    that differ among them; anything else is refused in one line."""
    table = svlab.read_results(sweep_dir)
    short = table[table["num_frames"] == 4].sort_values("seed")
    a, b = (sweep_dir / m for m in short["manifest"])
    out = tmp_path / "two.mp4"
    assert main(["compare", str(b), str(a.with_suffix(".mp4")), "--out", str(out),
                 "--tile-width", "64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"] == ["seed=1", "seed=2"] and report["keys"] == [a.stem, b.stem]
    assert probe(out)["width"] == 2 * 64 and probe(out)["frames"] == 4
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["compare", str(a), str(tmp_path / "notes.txt"), "--out",
                 str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is neither a sweep folder nor a manifest" in err
    assert not (tmp_path / "x.mp4").exists()
