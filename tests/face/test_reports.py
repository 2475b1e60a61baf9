"""The report runner on small notebooks built here: real papermill runs in the venv's python3
kernel, real nbconvert HTML."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from svlab.core.errors import InputError
from svlab.face.report_html import index_html, render_html
from svlab.face.reports import (
    CommandLineText, notebook_parameters, parse_value, plan_parameters, read_params_file,
    run_name, run_reports,
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
    "from svlab.media import write_video\nfrom svlab.face.display import show_figure, show_video",
    "video = Path(out_dir) / 'clip.mp4'\n"
    "write_video(np.full((frames, 32, 32, 3), 90, np.uint8), video, 6)\nshow_video(video)",
    "fig = Figure()\nfig.subplots().plot([0, scale])\nshow_figure(fig)\nprint('label is', label)",
    "import ipywidgets as w\nfrom tqdm.notebook import tqdm\n"
    "bar = tqdm(total=2, desc='working')\nbar.update(2)\nbar.close()\n"
    "w.VBox([w.HTML('<i>live widget</i>'), w.IntProgress(value=3, max=4)])",
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
    runs = run_reports([ok, bad], out, {"frames": 4, "label": "hello", "limit": 3}, cwd=root)
    return out, {r.name.split("--")[0]: r for r in runs}


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
    assert run.name == "showcase--frames=4,label=hello"  # named by what differs
    assert run.parameters == {"frames": 4, "label": "hello",
                              "out_dir": "out/showcase--frames=4,label=hello"}  # relative
    executed = nbformat.read(str(out / run.executed), as_version=4)
    assert executed.metadata.papermill.parameters == run.parameters
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert (out / run.name / "clip.mp4").stat().st_size > 0  # the notebook's out_dir

    page = (out / run.html).read_text(encoding="utf-8")
    assert "data:video/mp4;base64," in page  # the video plays from the page itself
    assert "data:image/png;base64," in page
    assert "label is hello" in page
    assert str(out.parent) not in page  # no absolute path of this machine


def test_report_page_needs_no_network_and_shows_widgets_statically(showcase):
    out, runs = showcase
    page = (out / runs["showcase"].html).read_text(encoding="utf-8")
    assert "<script" not in page and "<link" not in page  # nothing to fetch, nothing to run
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert "widget-view+json" not in page and "widget-state+json" not in page
    assert "<i>live widget</i>" in page and '<progress max="4" value="3">' in page
    assert re.search(r"working:\s*100%", page)  # the finished tqdm bar, as it ended


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
    entries = {e["name"].split("--")[0]: e
               for e in json.loads((out / "index.json").read_text())["runs"]}
    assert entries["showcase"]["status"] == "ok" and entries["broken"]["status"] == "failed"
    assert entries["broken"]["name"] == "broken--limit=3"
    assert entries["broken"]["parameters"] == {"limit": 3}
    page = (out / "index.html").read_text(encoding="utf-8")
    for run in runs.values():
        assert f'href="{run.html}"' in page and f'href="{run.executed}"' in page
        assert not run.html.startswith("/")
    assert "&#x27;hello&#x27;" in page and "AssertionError: value 5 over 3" in page
    assert f"{runs['showcase'].seconds:.1f} s" in page


def test_index_keeps_earlier_runs_in_the_same_folder(tmp_path):
    first = make_notebook(tmp_path / "first.ipynb", "a = 1", "a")
    second = make_notebook(tmp_path / "second.ipynb", "b = 1", "b")
    run_reports([first], tmp_path / "out")
    run_reports([second], tmp_path / "out", {"b": 2})
    entries = json.loads((tmp_path / "out" / "index.json").read_text())["runs"]
    assert [(e["name"], e["parameters"]) for e in entries] == [("first", {}),
                                                               ("second--b=2", {"b": 2})]


def test_runs_with_other_parameters_sit_side_by_side(tmp_path):
    nb = make_notebook(tmp_path / "sizes.ipynb", "size = 64\nmethod = 'blend'",
                       "print('size', size, method)")
    out = tmp_path / "out"
    run_reports([nb], out)
    run_reports([nb], out, {"size": 32})
    run_reports([nb], out, {"size": 32, "method": "flow"})
    run_reports([nb], out, {"size": 32})  # the same parameters again: replaces its run
    run_reports([nb], out, {"size": 64})  # the default: the defaults' run
    entries = json.loads((out / "index.json").read_text())["runs"]
    assert [e["name"] for e in entries] == ["sizes", "sizes--method=flow,size=32",
                                            "sizes--size=32"]
    for entry, text in zip(entries, ["size 64 blend", "size 32 flow", "size 32 blend"]):
        assert text in (out / entry["html"]).read_text(encoding="utf-8")
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("<tr class=\"ok\">") == 3 and page.count("<td>sizes.ipynb</td>") == 3


def test_run_names_are_safe_and_bounded(tmp_path):
    nb = make_notebook(tmp_path / "n.ipynb", "path = None\nratio = 0.5")
    assert run_name(nb, {"ratio": 0.5}) == "n"
    assert run_name(nb, {"path": "/data/my photos/a.png"}) == "n--path=data_my_photos_a.png"
    long = run_name(nb, {"path": "x" * 500})
    assert len(long) == 120 and long != run_name(nb, {"path": "x" * 499})


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
