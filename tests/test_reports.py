"""The report runner on small notebooks built here: real papermill runs in the venv's python3
kernel, real nbconvert HTML."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from svlab.errors import InputError
from svlab.reports import (
    CommandLineText, index_html, notebook_parameters, parse_value, plan_parameters,
    read_params_file, run_reports,
)


def make_notebook(path, parameters: str, *body: str):
    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                             *(new_code_cell(src) for src in body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, str(path))
    return path


# A notebook that writes a video into out_dir, shows it and a matplotlib figure, the way
# 01_generate does, through the same helpers.
SHOWCASE_PARAMS = "frames = 3\nlabel = 'x'\nscale: float = 1.0\nout_dir = None"
SHOWCASE_BODY = (
    "import numpy as np\nfrom pathlib import Path\nfrom matplotlib.figure import Figure\n"
    "from svlab.processor import write_video\nfrom svlab.ui import show_figure, show_video",
    "video = Path(out_dir) / 'clip.mp4'\n"
    "write_video(np.full((frames, 32, 32, 3), 90, np.uint8), video, 6)\nshow_video(video)",
    "fig = Figure()\nfig.subplots().plot([0, scale])\nshow_figure(fig)\nprint('label is', label)",
)


@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """One successful run and one failed run into the same report folder."""
    root = tmp_path_factory.mktemp("reports")
    ok = make_notebook(root / "showcase.ipynb", SHOWCASE_PARAMS, *SHOWCASE_BODY)
    bad = make_notebook(root / "broken.ipynb", "limit = 2",
                        "value = 5", "assert value < limit, f'value {value} over {limit}'",
                        "print('never reached')")
    out = root / "out"
    runs = run_reports([ok, bad], out, {"frames": 4, "label": "hello", "limit": 3})
    return out, {r.name: r for r in runs}


def test_parse_value_reads_like_papermill_cli():
    assert parse_value("12") == 12 and isinstance(parse_value("12"), int)
    assert parse_value("0.5") == 0.5
    assert parse_value("True") is True and parse_value("false") is False
    assert parse_value("None") is None
    assert parse_value("blend") == "blend"
    assert parse_value("photo 1.png") == "photo 1.png"


def test_successful_run_writes_executed_notebook_and_self_contained_html(showcase):
    out, runs = showcase
    run = runs["showcase"]
    assert run.status == "ok" and run.error is None and run.seconds > 0
    assert run.parameters == {"frames": 4, "label": "hello",
                              "out_dir": str((out / "showcase").resolve())}
    executed = nbformat.read(str(out / run.executed), as_version=4)
    assert executed.metadata.papermill.parameters == run.parameters
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert (out / "showcase" / "clip.mp4").stat().st_size > 0  # the notebook's out_dir

    page = (out / run.html).read_text(encoding="utf-8")
    assert "data:video/mp4;base64," in page  # the video plays from the page itself
    assert "data:image/png;base64," in page
    assert "label is hello" in page


def test_failed_run_still_reports_the_failing_cell(showcase):
    out, runs = showcase
    run = runs["broken"]
    assert run.status == "failed"
    assert run.error == "AssertionError: value 5 over 3"
    page = (out / run.html).read_text(encoding="utf-8")
    assert "value 5 over 3" in page and "AssertionError" in page
    executed = nbformat.read(str(out / run.executed), as_version=4)
    assert not any(o.get("text") == "never reached\n"
                   for c in executed.cells for o in c.get("outputs", []))


def test_dead_kernel_is_a_failed_run_with_what_ran_before(tmp_path):
    nb = make_notebook(tmp_path / "dies.ipynb", "x = 1", "print('before')",
                       "import os\nos._exit(3)", "print('after')")
    (run,) = run_reports([nb], tmp_path / "out")
    assert run.status == "failed" and run.error.startswith("DeadKernelError")
    executed = nbformat.read(str(tmp_path / "out" / run.executed), as_version=4)
    printed = [o.text for c in executed.cells for o in c.get("outputs", []) if "text" in o]
    assert printed == ["before\n"]
    assert (tmp_path / "out" / run.html).is_file()


def test_index_lists_runs_with_parameters_duration_and_status(showcase):
    out, runs = showcase
    entries = {e["name"]: e for e in json.loads((out / "index.json").read_text())["runs"]}
    assert entries["showcase"]["status"] == "ok" and entries["broken"]["status"] == "failed"
    assert entries["broken"]["parameters"] == {"limit": 3}
    page = (out / "index.html").read_text(encoding="utf-8")
    for run in runs.values():
        assert f'href="{run.html}"' in page and f'href="{run.executed}"' in page
    assert "&#x27;hello&#x27;" in page and "AssertionError: value 5 over 3" in page
    assert f"{runs['showcase'].seconds:.1f} s" in page


def test_index_keeps_earlier_runs_in_the_same_folder(tmp_path):
    first = make_notebook(tmp_path / "first.ipynb", "a = 1", "a")
    second = make_notebook(tmp_path / "second.ipynb", "b = 1", "b")
    run_reports([first], tmp_path / "out")
    run_reports([second], tmp_path / "out", {"b": 2})
    entries = json.loads((tmp_path / "out" / "index.json").read_text())["runs"]
    assert [(e["name"], e["parameters"]) for e in entries] == [("first", {}),
                                                               ("second", {"b": 2})]


def test_parameters_go_to_the_notebooks_that_declare_them(tmp_path):
    a = make_notebook(tmp_path / "a.ipynb", "size = 64\nmethod = 'blend'")
    b = make_notebook(tmp_path / "b.ipynb", "size = 32")
    plan = plan_parameters([a, b], {"size": 48, "method": "flow"})
    assert plan == {a: {"size": 48, "method": "flow"}, b: {"size": 48}}
    assert set(notebook_parameters(a)) == {"size", "method"}


@pytest.mark.parametrize("params, message", [
    ({"sise": 48}, "unknown parameter 'sise' (did you mean 'size'?); accepted: ratio, size"),
    ({"size": "big"}, "parameter size='big' of a.ipynb must be int (default 64)"),
    ({"size": 4.5}, "must be int"),
    ({"ratio": True}, "must be float"),
])
def test_bad_parameters_are_refused_before_running(tmp_path, params, message):
    a = make_notebook(tmp_path / "a.ipynb", "size = 64\nratio = 0.5")
    with pytest.raises(InputError, match=re.escape(message)):
        run_reports([a], tmp_path / "out", params)
    assert not (tmp_path / "out").exists()


def test_command_line_text_is_read_by_each_notebooks_declared_type(tmp_path):
    a = make_notebook(tmp_path / "a.ipynb", "chunks = '4,1'\nsize = 64\nprompt = None")
    b = make_notebook(tmp_path / "b.ipynb", "chunks: int = 4")
    plan = plan_parameters([a, b], {"chunks": CommandLineText("2"), "size": CommandLineText("48"),
                                    "prompt": CommandLineText("3.5")})
    assert plan == {a: {"chunks": "2", "size": 48, "prompt": 3.5}, b: {"chunks": 2}}
    assert type(plan[a]["chunks"]) is str
    with pytest.raises(InputError, match="size='big' of a.ipynb must be int"):
        plan_parameters([a], {"size": CommandLineText("big")})


def test_an_int_stands_for_a_float_parameter(tmp_path):
    a = make_notebook(tmp_path / "a.ipynb", "ratio = 0.5")
    assert plan_parameters([a], {"ratio": 2}) == {a: {"ratio": 2}}


def test_bad_notebook_lists_are_refused(tmp_path):
    a = make_notebook(tmp_path / "a.ipynb", "x = 1")
    with pytest.raises(InputError, match=r"notebook not found: .*b\.ipynb \(did you mean 'a"):
        run_reports([tmp_path / "b.ipynb"], tmp_path / "out")
    with pytest.raises(InputError, match="not a notebook"):
        run_reports([tmp_path / "a.py"], tmp_path / "out")
    with pytest.raises(InputError, match="given twice"):
        run_reports([a, a], tmp_path / "out")
    with pytest.raises(InputError, match="no notebooks"):
        run_reports([], tmp_path / "out")


def test_params_file(tmp_path):
    (tmp_path / "p.yaml").write_text("size: 48\nmethod: flow\n")
    assert read_params_file(tmp_path / "p.yaml") == {"size": 48, "method": "flow"}
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(InputError, match="must hold a mapping"):
        read_params_file(tmp_path / "list.yaml")
    (tmp_path / "bad.yaml").write_text("size: [1\n")
    with pytest.raises(InputError, match="not valid YAML"):
        read_params_file(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="cannot read parameters file"):
        read_params_file(tmp_path / "missing.yaml")


def test_index_html_escapes_what_it_shows():
    page = index_html([{"name": "<x>", "parameters": {"p": "<b>"}, "status": "failed",
                        "error": "E: <script>", "seconds": 1.0, "started": "now",
                        "html": "x/x.html", "executed": "x/x.ipynb"}])
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;x&gt;" in page
    assert page.count("<tr") == 2  # the header and one run
