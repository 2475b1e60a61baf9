"""The pages of a report folder: each executed notebook as one HTML file that needs no
network, and the index that lists every run.

nbconvert's `lab` template links require.js, MathJax, mermaid and the widget manager from
CDNs; behind a firewall that drops packets the page then stays blank until those requests
time out. `render_html` uses the same template with those blocks emptied (and images keep
the alt text they were displayed with), and turns widget
outputs into static content first (a widget cannot run in a static page anyway): a widget
that offers `text/html` shows it, a closed one (a finished progress bar) is dropped, and any
other shows its text. Images and the video are inline (data URIs), so the page is whole.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# The lab template without anything fetched from the network.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
 alt="{{ (output | get_metadata('alt', 'image/png')) or 'a figure' | escape_html }}">
</div>
{% endblock data_png %}
"""


def render_html(notebook: str | Path, html_path: str | Path) -> Path:
    """A self-contained HTML page of an executed notebook that loads nothing from the
    network: plots and images inlined as data URIs (videos shown with
    `IPython.display.Video(..., embed=True)` already are), widgets as static content."""
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    static_widgets(nb)
    exporter = HTMLExporter(embed_images=True, template_file="svlab_offline.html.j2",
                            extra_loaders=[DictLoader({"svlab_offline.html.j2":
                                                       OFFLINE_TEMPLATE})])
    body, _ = exporter.from_notebook_node(nb)
    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return html_path


def static_widgets(nb) -> None:
    """Replace widget outputs in `nb` (in place) by what a static page can show, and drop the
    saved widget state: the widget's own `text/html` when it offers one (the generation
    panel does), else its last state drawn as HTML (boxes, HTML and labels, progress bars:
    a finished tqdm bar reads "denoising 100% 4/4"), else its text."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            data = {k: v for k, v in output["data"].items() if k != WIDGET_VIEW}
            if "text/html" not in data:
                drawn = widget_html(view.get("model_id", ""), state)
                if drawn is not None:
                    data["text/html"] = drawn
            output["data"] = data


def widget_html(model_id: str, state: dict[str, Any]) -> str | None:
    """A widget's saved state as static HTML, or None for a kind not drawn here."""
    model = state.get(model_id)
    if model is None:
        return None
    kind, values = model.get("model_name", ""), model.get("state", {})
    if kind in ("HBoxModel", "VBoxModel", "BoxModel"):
        parts = [widget_html(str(c).removeprefix("IPY_MODEL_"), state)
                 for c in values.get("children", [])]
        direction = "column" if kind == "VBoxModel" else "row"
        return (f"<div style='display:flex;flex-direction:{direction};gap:.5em;"
                f"align-items:center'>{''.join(p for p in parts if p)}</div>")
    if kind == "HTMLModel":
        return str(values.get("value", ""))
    if kind == "LabelModel":
        return html.escape(str(values.get("value", "")))
    if kind in ("FloatProgressModel", "IntProgressModel"):
        return (f"<progress value='{values.get('value', 0)}' max='{values.get('max', 100)}'>"
                "</progress>")
    return None


def write_index(out: str | Path, runs: Iterable[Any]) -> Path:
    """Merge `runs` (`Run` records) into `out/index.json` (by name: a run of the same
    notebook with the same parameters replaces the earlier one) and rewrite `out/index.html`.

    Runs from earlier invocations into the same folder stay listed while their files exist.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index_json = out / "index.json"
    known: dict[str, dict] = {}
    if index_json.is_file():
        try:
            for entry in json.loads(index_json.read_text(encoding="utf-8")).get("runs", []):
                if (out / entry.get("html", "")).is_file():
                    known[entry["name"]] = entry
        except (ValueError, AttributeError, KeyError, TypeError):
            known = {}  # an unreadable index is rebuilt from this invocation's runs
    for run in runs:
        known[run.name] = asdict(run)
    entries = sorted(known.values(), key=lambda e: (e.get("notebook", ""), e["name"]))
    index_json.write_text(json.dumps({"runs": entries}, indent=2, default=str) + "\n",
                          encoding="utf-8")
    (out / "index.html").write_text(index_html(entries), encoding="utf-8")
    return out / "index.html"


def index_html(entries: list[dict]) -> str:
    """The index page: one row per run, linking its HTML report and executed notebook."""
    rows = []
    for e in entries:
        given = e.get("given")
        params = "<br>".join(f"<code>{html.escape(k)}</code> = {html.escape(repr(v))}"
                             for k, v in (e["parameters"] if given is None else given).items())
        params = params or "(defaults)"
        status = html.escape(e["status"])
        if e.get("error"):
            status += f"<br><small>{html.escape(e['error'])}</small>"
        seconds = "" if e.get("seconds") is None else f"{e['seconds']:.1f} s"
        rows.append(
            f'<tr class="{html.escape(e["status"])}">'
            f'<td><a href="{html.escape(e["html"])}">{html.escape(e["name"])}</a>'
            f'<br><small><a href="{html.escape(e["executed"])}">notebook</a></small></td>'
            f"<td>{html.escape(Path(e.get('notebook') or '').name)}</td>"
            f"<td>{params}</td><td>{seconds}</td><td>{status}</td>"
            f"<td>{html.escape(e.get('started') or '')}</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>svlab reports</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em .8em;vertical-align:top;text-align:left}"
        "tr.ok td:nth-child(5){color:#060}tr.failed td:nth-child(5){color:#b00}</style>"
        "</head><body><h1>svlab reports</h1><table><tr><th>run</th><th>notebook</th>"
        "<th>parameters</th><th>duration</th><th>status</th><th>started (UTC)</th></tr>\n"
        + "\n".join(rows) + "\n</table></body></html>\n"
    )
