"""Notebook reports: run notebooks headless through papermill and render them with nbconvert.

A report run of `notebooks/01_generate.ipynb` into `reports/` writes

    reports/01_generate/01_generate.ipynb   the executed notebook (parameters recorded by papermill)
    reports/01_generate/01_generate.html    a page that needs no network: images, video inline
    reports/01_generate/...                 whatever the notebook writes into its `out_dir`
    reports/index.html                      every run in this folder: parameters, duration, status
    reports/index.json                      the same, for machines

The run's folder is named after the notebook and what differs from its defaults
(`01_generate--num_frames=14,seed=3`), so runs with other parameters sit side by side; the
same parameters again replace their earlier run.

A notebook that fails still gets its executed notebook and HTML (papermill marks the failing
cell), and `run_reports` says so in the run's status; the CLI then exits with 1. Mistakes
found before anything runs (a missing notebook, an unknown parameter) raise `InputError`.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from svlab.core.errors import InputError, SvlabError, did_you_mean
from svlab.core.manifest import now_utc
from svlab.face.report_html import render_html, write_index
from svlab.core.bounded import load_structured, read_text_capped
from svlab.core.overlap import refuse_overlap

KERNEL = "python3"  # the kernel `make install` registers inside the venv (--sys-prefix)
OUT_DIR_PARAMETER = "out_dir"  # a notebook that declares it writes its files there
MAX_NAME = 120  # longest run folder name
MAX_NOTEBOOK_BYTES = 64 << 20


@dataclass
class Run:
    """One notebook run, as index.json records it (paths relative to the report folder)."""

    name: str
    notebook: str
    parameters: dict[str, Any]  # as passed to papermill, `out_dir` included
    status: str = "pending"  # "ok" or "failed"
    error: str | None = None
    seconds: float | None = None
    started: str | None = None
    executed: str | None = None
    html: str | None = None
    given: dict[str, Any] | None = None  # the parameters asked for (what names the run)


class CommandLineText(str):
    """A parameter value as typed after `-p NAME`: read for each notebook by the parameter's
    declared type: text where the default is a string (`-p decode_chunks 2` stays "2"),
    otherwise as papermill's CLI reads it (`parse_value`)."""


def parse_value(text: str) -> Any:
    """A `-p NAME VALUE` value the way papermill's own CLI reads it: True/False/None, then
    int, then float, else the string unchanged."""
    lowered = text.strip()
    if lowered in ("True", "true"):
        return True
    if lowered in ("False", "false"):
        return False
    if lowered in ("None", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(lowered)
        except ValueError:
            pass
    return text


def read_params_file(path: str | Path) -> dict[str, Any]:
    """Parameters from a YAML (or JSON) file holding one mapping of names to values."""
    path = Path(path)
    data = load_structured(path, "parameters file", kind="yaml")
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise InputError(f"parameters file {path} must hold a mapping of parameter names "
                         "to values")
    return data


def notebook_parameters(notebook: str | Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares in its `parameters` cell: name -> papermill's
    description (`default` as source text, `inferred_type_name`)."""
    import papermill

    return papermill.inspect_notebook(str(notebook))


def check_nbformat(path: Path) -> None:
    """InputError unless `path` is a valid nbformat 4 notebook (UTF-8 JSON, size-capped)."""
    import nbformat

    text = read_text_capped(path, "notebook", max_bytes=MAX_NOTEBOOK_BYTES)
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # nbformat raises JSON, validation and version errors of its own
        detail = " ".join(str(e).split())[:160]
        raise InputError(f"{path} is not a valid notebook ({type(e).__name__}: {detail}); "
                         "accepted: an nbformat 4 .ipynb file") from None


def check_notebooks(notebooks: Iterable[str | Path]) -> list[Path]:
    """The notebooks as paths, each an existing .ipynb file, no name twice."""
    paths, names = [], set()
    for nb in notebooks:
        path = Path(nb)
        if path.suffix != ".ipynb":
            raise InputError(f"{path} is not a notebook; accepted: .ipynb files")
        if not path.is_file():
            found = [p.name for p in path.parent.glob("*.ipynb")] if path.parent.is_dir() else []
            raise InputError(f"notebook not found: {path}{did_you_mean(path.name, found)}")
        if path.stem in names:
            raise InputError(f"notebook {path.stem} given twice; each run is named after "
                             "its notebook")
        check_nbformat(path)
        names.add(path.stem)
        paths.append(path)
    if not paths:
        raise InputError("no notebooks to run; give NOTEBOOK paths (e.g. notebooks/*.ipynb)")
    return paths


def plan_parameters(
    notebooks: list[Path], parameters: Mapping[str, Any]
) -> dict[Path, dict[str, Any]]:
    """Which parameters each notebook gets: those its `parameters` cell declares.

    A parameter that no notebook declares is a mistake (a typo, usually) and raises; so does
    a value whose type cannot stand for the declared default (`num_frames=abc`).
    `CommandLineText` values are read here, by each notebook's declared type.
    """
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    known = sorted({name for params in declared.values() for name in params})
    plan: dict[Path, dict[str, Any]] = {nb: {} for nb in notebooks}
    for name, value in parameters.items():
        takers = [nb for nb in notebooks if name in declared[nb]]
        if not takers:
            raise InputError(f"unknown parameter {name!r}{did_you_mean(name, known)}; "
                             f"accepted: {', '.join(known) or '(none declared)'}")
        for nb in takers:
            given = value
            if isinstance(value, CommandLineText):
                text = _declared_type(declared[nb][name]) is str
                given = str(value) if text else parse_value(value)
            _check_type(nb, name, given, declared[nb][name])
            plan[nb][name] = given
    return plan


def _check_type(notebook: Path, name: str, value: Any, spec: Mapping[str, Any]) -> None:
    """Numbers and bools must match the declared type (an int may stand for a float); None is
    taken where the default is None or the annotation is Optional; strings are taken as given."""
    declared = _declared_type(spec)
    accepted = {int: (int,), float: (int, float), bool: (bool,)}.get(declared)
    if accepted is None or value is None:
        return
    if (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
        raise InputError(f"parameter {name}={value!r} of {notebook.name} must be "
                         f"{declared.__name__} (default {spec['default']})")


def _declared_type(spec: Mapping[str, Any]) -> type | None:
    """The type of a parameter: its annotation (`int`, `Optional[int]`), else the type of its
    literal default."""
    annotation = (spec.get("inferred_type_name") or "").replace(" ", "")
    inner = re.fullmatch(r"Optional\[(\w+)\]|(\w+)\|None|None\|(\w+)|(\w+)", annotation)
    name = next((g for g in inner.groups() if g), None) if inner else None
    annotated = {"int": int, "float": float, "bool": bool, "str": str}.get(name or "")
    if annotated:
        return annotated
    default = _literal_default(spec)
    return type(default) if isinstance(default, (bool, int, float, str)) else None


def _literal_default(spec: Mapping[str, Any]) -> Any:
    """The declared default as a value, or `...` where it is not a literal."""
    try:
        return ast.literal_eval(spec.get("default", ""))
    except (ValueError, SyntaxError):
        return ...


def run_name(notebook: Path, parameters: Mapping[str, Any]) -> str:
    """The run's folder name: the notebook's name, then each parameter that differs from the
    notebook's default (`01_generate--num_frames=14,seed=3`), in a form safe for a file name.
    A very long name is cut and ends in a hash of the whole, so that it stays unique."""
    declared = notebook_parameters(notebook)
    differs = [f"{k}={_name_part(v)}" for k, v in sorted(parameters.items())
               if k not in declared or _literal_default(declared[k]) != v]
    if not differs:
        return notebook.stem
    name = f"{notebook.stem}--{','.join(differs)}"
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = f"{name[:MAX_NAME - 9]}~{digest}"
    return name


def _name_part(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(value)).strip("_") or "_"


def check_kernel() -> None:
    """The `python3` kernel must be installed (ipykernel provides it in the running env)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise SvlabError(f"no Jupyter kernel named {KERNEL!r}; register the venv's with "
                         f"`python -m ipykernel install --sys-prefix --name {KERNEL}`") from None


def check_report_outputs(paths: list[Path], plan: Mapping[Path, dict[str, Any]], out: Path
                         ) -> None:
    """Before any notebook runs: no executed notebook, page or index would replace one of
    the notebooks (a report folder holding the notebooks themselves)."""
    outputs = [out / "index.html", out / "index.json"]
    for nb in paths:
        run_dir = out / run_name(nb, dict(plan[nb]))
        outputs += [run_dir / nb.name, (run_dir / nb.name).with_suffix(".html")]
    refuse_overlap(outputs, paths)


def report_folder(out: Path) -> Path:
    """`out`, made if missing; refused before any notebook runs when it cannot be a folder."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"--out {str(out)!r} is a file; accepted: a folder (new or "
                         "existing) for the reports") from None
    except OSError as e:
        raise InputError(f"cannot create report folder {str(out)!r}: {e.strerror or e}") from None
    return out


def run_reports(
    notebooks: Iterable[str | Path],
    out: str | Path = "reports",
    parameters: Mapping[str, Any] | None = None,
    *,
    cwd: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Run]:
    """Run each notebook through papermill into `out/<run name>/`, render its HTML and add it
    to `out/index.html`. Returns the runs in order; a failed run does not stop the rest.

    `cwd` is the kernel's working directory (default: the current one, as papermill's CLI
    does), so relative paths given as parameters mean what they mean on the command line;
    the `out_dir` given to a notebook is relative to it as well, so that the report shows no
    machine's absolute paths. `log(str)` receives one line per notebook.
    """
    paths = check_notebooks(notebooks)
    plan = plan_parameters(paths, dict(parameters or {}))
    check_kernel()
    check_report_outputs(paths, plan, Path(out))
    out, cwd = report_folder(Path(out)), Path(cwd or Path.cwd())
    runs = []
    for nb in paths:
        params = dict(plan[nb])
        name = run_name(nb, params)
        run_dir = out / name
        if OUT_DIR_PARAMETER in notebook_parameters(nb) and OUT_DIR_PARAMETER not in params:
            params[OUT_DIR_PARAMETER] = os.path.relpath(run_dir.resolve(), cwd.resolve())
        if log:
            log(f"running {nb} ...")
        run = run_notebook(nb, run_dir, params, cwd=cwd, name=name)
        run.given = dict(plan[nb])
        run.executed = os.path.relpath(run_dir / run.executed, out)
        run.html = os.path.relpath(run_dir / run.html, out)
        if log:
            log(f"{nb}: {run.status} in {run.seconds:.1f} s"
                + (f" ({run.error})" if run.error else ""))
        runs.append(run)
        write_index(out, [run])  # after each run: a long batch shows its progress
    return runs


def run_notebook(notebook: Path, run_dir: Path, parameters: dict[str, Any], *,
                 cwd: str | Path | None = None, name: str | None = None) -> Run:
    """Execute one notebook into `run_dir` and render it; errors in its cells become the
    run's status, not exceptions."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    run_dir.mkdir(parents=True, exist_ok=True)
    executed = (run_dir / notebook.name).resolve()  # papermill chdirs into cwd
    run = Run(name=name or notebook.stem, notebook=str(notebook), parameters=parameters,
              started=now_utc(), executed=executed.name, html=executed.with_suffix(".html").name)
    start = time.perf_counter()
    try:
        # Saving after each cell also keeps what ran when the kernel dies mid-way.
        papermill.execute_notebook(
            str(notebook.resolve()), str(executed), parameters=parameters, kernel_name=KERNEL,
            cwd=str(cwd or Path.cwd()), progress_bar=False, request_save_on_cell_execute=True,
            config=kernel_config(),
        )
        run.status = "ok"
    except PapermillExecutionError as e:
        run.status, run.error = "failed", f"{e.ename}: {e.evalue}"
    except (DeadKernelError, CellTimeoutError) as e:
        run.status, run.error = "failed", f"{type(e).__name__}: {e}"
    run.seconds = round(time.perf_counter() - start, 2)
    render_html(executed, executed.with_suffix(".html"))
    return run


def kernel_config():
    """The kernel manager's settings for report runs: the kernel listens on local sockets
    (IPC) rather than TCP, so ipykernel has no unencrypted TCP to warn about."""
    from traitlets.config import Config

    return Config({"KernelManager": {"transport": "ipc"}})
