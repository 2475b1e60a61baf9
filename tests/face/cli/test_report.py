"""`svlab report`: exit status, -p/--params parsing, --json, default notebooks."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from svlab.face.cli import main


def make_notebook(path, parameters: str, *body: str):
    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                             *(new_code_cell(src) for src in body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notebooks").mkdir()
    make_notebook(tmp_path / "notebooks" / "sizes.ipynb",
                  "size = 64\nratio = 0.5\nmethod = 'blend'\nflag = False",
                  "assert size < 1000, 'size too large'\nassert isinstance(method, str)\n"
                  "print(size, ratio, method, flag)")
    return tmp_path


def test_json_reports_each_run_with_typed_parameters(folder, capsys):
    (folder / "p.yaml").write_text("size: 32\nmethod: flow\n")
    rc = main(["report", "notebooks/sizes.ipynb", "--params", "p.yaml", "-p", "size", "48",
               "-p", "ratio", "2.5", "-p", "flag", "True", "-p", "method", "7", "--out", "out",
               "--json"])
    captured = capsys.readouterr()
    assert rc == 0
    report = json.loads(captured.out)  # one object, nothing else on stdout
    assert report["ok"] is True and report["index"] == "out/index.html"
    (run,) = report["runs"]
    # a string parameter stays text ("7"); -p wins over the file
    assert run["parameters"] == {"size": 48, "ratio": 2.5, "method": "7", "flag": True}
    assert run["status"] == "ok"
    page = (folder / "out" / run["html"]).read_text(encoding="utf-8")
    assert "48 2.5 7 True" in page
    report_nb = json.loads((folder / "out" / run["executed"]).read_text())
    assert report_nb["metadata"]["papermill"]["parameters"]["method"] == "7"


def test_failed_notebook_exits_1_and_still_writes_its_report(folder, capsys):
    rc = main(["report", "notebooks/sizes.ipynb", "-p", "size", "5000", "--out", "out"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "failed" in captured.out and "out/index.html" in captured.out
    assert "AssertionError: size too large" in captured.err
    assert "size too large" in (folder / "out" / "sizes--size=5000" / "sizes.html").read_text()


@pytest.mark.parametrize("argv, message", [
    (["notebooks/missing.ipynb"], "notebook not found: notebooks/missing.ipynb "
                                  "(did you mean 'sizes.ipynb'?)"),
    (["notebooks/sizes.ipynb", "-p", "sise", "4"], "unknown parameter 'sise'"),
    (["notebooks/sizes.ipynb", "-p", "size", "large"], "parameter size='large' of sizes.ipynb "
                                                        "must be int (default 64)"),
    (["notebooks/sizes.ipynb", "--params", "nope.yaml"], "cannot read parameters file nope.yaml"),
])
def test_user_errors_exit_2_with_one_line(folder, capsys, argv, message):
    rc = main(["report", *argv, "--out", "out"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"svlab report: error: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (folder / "out").exists()


def test_out_on_a_file_is_refused_before_anything_runs(folder, capsys):
    (folder / "taken.txt").write_text("keep me")
    rc = main(["report", "notebooks/sizes.ipynb", "--out", "taken.txt"])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("svlab report: error: --out 'taken.txt' is a file; accepted: a "
                               "folder (new or existing) for the reports\n")
    assert (folder / "taken.txt").read_text() == "keep me"


def test_default_runs_every_notebook_under_notebooks(folder, capsys):
    make_notebook(folder / "notebooks" / "other.ipynb", "x = 1", "x")
    assert main(["report", "--out", "out"]) == 0
    entries = json.loads((folder / "out" / "index.json").read_text())["runs"]
    assert sorted(e["name"] for e in entries) == ["other", "sizes"]


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--help"])
    assert exit_.value.code == 0
    assert "-p NAME VALUE" in capsys.readouterr().out


def test_runs_with_other_parameters_sit_side_by_side(folder, capsys):
    assert main(["report", "notebooks/sizes.ipynb", "--out", "out"]) == 0
    assert main(["report", "notebooks/sizes.ipynb", "-p", "size", "32", "--out", "out"]) == 0
    out = capsys.readouterr().out
    assert "out/sizes--size=32/sizes.html" in out
    entries = json.loads((folder / "out" / "index.json").read_text())["runs"]
    assert [(e["name"], e["given"]) for e in entries] == [("sizes", {}),
                                                          ("sizes--size=32", {"size": 32})]
