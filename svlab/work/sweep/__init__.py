"""Sweeps: many runs of one experiment, keyed, resumable, measured and compared.

    spec.py       the sweep file (base, inputs, grid, zip, runs, seeds), checked
    expand.py     its runs (counted first, then each config resolved)
    keys.py       stable run keys (settings, input content, model and revision)
    plan.py       the runs' files, what is done, the order (grouped by model loading key)
    reuse.py      conditioning shared by runs of one image, computed once
    executors.py  executors (here: LocalExecutor) and the typed record of a run
    ray_executor.py  RayExecutor: the same runs on a Ray cluster (svlab.work.distributed)
    results.py    the table (DIR/results.csv, a pandas DataFrame)
    driver.py     `sweep()`: all of it, resumable, with a progress bar
    dryrun.py     what a sweep would do, and the predicted peak memory of each setting
    compare.py    a sweep's runs side by side (video grid) and a contact sheet
    plots.py      a metric against a setting, for notebooks

`svlab.sweep(...)` is the function `driver.sweep` (svlab's lazy public API); rerunning any video
from its manifest is `svlab.work.rerun`. See docs/sweeps.md.
"""

from svlab.work.sweep.plan import SweepPlan, plan_sweep
from svlab.work.sweep.results import read_results
from svlab.work.sweep.driver import sweep
from svlab.work.sweep.spec import SweepSpec, load_sweep

__all__ = ["SweepPlan", "SweepSpec", "load_sweep", "plan_sweep", "read_results", "sweep"]

