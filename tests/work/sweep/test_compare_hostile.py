"""`svlab compare` and the sweep table on broken and crafted folders: one line and exit 2,
never a traceback; ffmpeg only ever opens local files under the sweep; no input replaced;
no formula reaches a spreadsheet."""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import svlab
from svlab.face.cli import main
from svlab.core.csv_cells import neutralise_cell, restore_cell
from svlab.media import ffmpeg as ffmpeg_module

FALLBACK = {"profile": "cpu-tiny", "model": "fallback", "num_frames": 4}


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    Image.new("RGB", (64, 48), (20, 120, 200)).save(folder / "photo.png")
    svlab.sweep({"base": FALLBACK, "inputs": [{"image": str(folder / "photo.png"),
                                               "prompt": "=HYPERLINK(\"http://x\")"}],
                 "grid": {"seed": [1, 2]}}, folder / "s", progress=False)
    return folder


@pytest.fixture
def sweep_copy(made, tmp_path):
    shutil.copytree(made / "s", tmp_path / "s")
    shutil.copy(made / "photo.png", tmp_path / "photo.png")
    table = pd.read_csv(tmp_path / "s" / "results.csv")
    table["image"] = str(tmp_path / "photo.png")  # the copy's input is the copied photo
    table.to_csv(tmp_path / "s" / "results.csv", index=False)
    return tmp_path / "s"


def _one_line_2(code, capsys):
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_formula_cells_are_neutralised_and_numbers_kept(made):
    text = (made / "s" / "results.csv").read_text()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    table = svlab.read_results(made / "s")
    assert table["prompt"].iloc[0] == "=HYPERLINK(\"http://x\")"  # read back as written
    assert table["seed"].tolist() == [1, 2]


@given(st.text(max_size=12) | st.integers().map(str) | st.floats(allow_nan=False).map(str))
def test_neutralising_keeps_numbers_and_round_trips(text):
    cell = neutralise_cell(text)
    assert restore_cell(cell) == text or text.startswith("'")
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        float(cell)  # only numbers may start so


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02\xff" * 100, "é,ü\n".encode("latin-1"),
                                     b"a,b\n1,2\n", b'key,status\n"unclosed'])
def test_a_broken_table_is_refused_in_one_line(sweep_copy, capsys, content):
    (sweep_copy / "results.csv").write_bytes(content)
    _one_line_2(main(["compare", str(sweep_copy)]), capsys)


def test_a_file_or_a_truncated_manifest_is_refused(sweep_copy, capsys):
    _one_line_2(main(["compare", str(sweep_copy / "results.csv")]), capsys)
    # a run's manifest, named by the table (runs/ also holds X.metrics.json)
    manifest = sweep_copy / pd.read_csv(sweep_copy / "results.csv")["manifest"][0]
    manifest.write_text(manifest.read_text()[:50])
    _one_line_2(main(["compare", str(sweep_copy)]), capsys)


@pytest.mark.parametrize("cell", ["http://127.0.0.1:9/x.mp4", "concat:a.mp4|b.mp4",
                                  "/etc/passwd", "../../x.mp4"])
def test_crafted_table_paths_never_reach_ffmpeg(sweep_copy, capsys, monkeypatch, cell):
    table = pd.read_csv(sweep_copy / "results.csv")
    table.loc[0, "video"] = cell
    table.to_csv(sweep_copy / "results.csv", index=False)
    seen = []
    real = subprocess.run

    def spy(cmd, *a, **k):
        seen.append(cmd)
        return real(cmd, *a, **k)

    monkeypatch.setattr(ffmpeg_module.subprocess, "run", spy)
    code = main(["compare", str(sweep_copy)])  # refused, or that run left out
    if code != 0:
        _one_line_2(code, capsys)
    assert not [c for c in seen if any(cell in str(arg) for arg in c)]


def test_ffmpeg_inputs_are_always_absolute_local_paths():
    args = ffmpeg_module.local_inputs(["-i", "http://x/y.mp4", "-i", "-", "-i", "a.mp4"])
    assert args[1].startswith("/") and args[3] == "-" and args[5].startswith("/")


@pytest.mark.parametrize("what", ["sheet-image", "out-run", "sheet-link", "out-table"])
def test_compare_never_writes_over_its_inputs(sweep_copy, capsys, what):
    photo = sweep_copy.parent / "photo.png"
    run_video = next((sweep_copy / "runs").glob("*.mp4"))
    before = {p: p.read_bytes() for p in (photo, run_video, sweep_copy / "results.csv")}
    if what == "sheet-image":
        args = ["--sheet", str(photo)]
    elif what == "out-run":
        args = ["--out", str(run_video)]
    elif what == "sheet-link":
        (sweep_copy.parent / "link.png").symlink_to(photo)
        args = ["--sheet", str(sweep_copy.parent / "link.png")]
    else:
        args = ["--out", str(sweep_copy / "g.mp4"), "--sheet", str(sweep_copy / "results.csv")]
    err = _one_line_2(main(["compare", str(sweep_copy), *args]), capsys)
    assert "input" in err or "must end in" in err
    assert {p: p.read_bytes() for p in before} == before


def test_a_missing_ffmpeg_is_named_with_the_fix(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "nowhere" / "ffmpeg"))
    ffmpeg_module.ffmpeg_exe.cache_clear()
    try:
        code = main(["probe", str(tmp_path / "x.mp4")]) if False else \
            main(["fallback", "--out", str(tmp_path / "f.mp4"), "--frames", "2"])
    finally:
        monkeypatch.delenv("IMAGEIO_FFMPEG_EXE")
        ffmpeg_module.ffmpeg_exe.cache_clear()
    err = _one_line_2(code, capsys)
    assert "ffmpeg is missing" in err and "IMAGEIO_FFMPEG_EXE" in err
    assert not list(tmp_path.glob("f.*"))


def test_a_url_in_the_table_reaches_ffmpeg_only_as_a_local_file(sweep_copy, capsys,
                                                                monkeypatch):
    """Run from inside the sweep (`svlab compare .`), a cell "http://host/x.mp4" that also
    names a file there ("http:/host/x.mp4") is that file, given to ffmpeg by absolute path."""
    table = pd.read_csv(sweep_copy / "results.csv")
    trap = sweep_copy / "http:" / "127.0.0.1:9" / "x.mp4"
    trap.parent.mkdir(parents=True)
    shutil.copy(sweep_copy / table.loc[0, "video"], trap)
    table.loc[0, "video"] = "http://127.0.0.1:9/x.mp4"
    table.to_csv(sweep_copy / "results.csv", index=False)
    seen = []
    real = subprocess.run
    monkeypatch.setattr(ffmpeg_module.subprocess, "run",
                        lambda cmd, *a, **k: seen.append(cmd) or real(cmd, *a, **k))
    monkeypatch.chdir(sweep_copy)
    assert main(["compare", ".", "--out", str(sweep_copy.parent / "g.mp4")]) == 0
    inputs = [c[i + 1] for c in seen for i, arg in enumerate(c[:-1]) if arg == "-i"]
    assert inputs and all(p == "-" or p.startswith("/") for p in inputs), inputs


def test_lavfi_sources_stay_filters():
    args = ffmpeg_module.local_inputs(["-f", "lavfi", "-i", "anoisesrc", "-i", "x:y"])
    assert args[3] == "anoisesrc" and args[5].startswith("/")
