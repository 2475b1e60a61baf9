"""Whose table a sweep folder holds: a sweep writes `results.csv` only over its own."""

from __future__ import annotations

from svlab.core.errors import InputError
from svlab.core.overlap import refuse_overlap
from svlab.work.sweep.plan import SweepPlan
from svlab.work.sweep.results import read_results


def check_table_owner(plan: SweepPlan) -> None:
    """InputError when the folder's results.csv is not this sweep's own table (an unrelated
    file, or another sweep's: none of its runs is one of this sweep's), or when the table
    would be one of the sweep's inputs. A sweep run again, or grown, keeps its own table."""
    refuse_overlap([plan.results], [i.image for i in plan.spec.inputs if i.image],
                   what="the sweep's table")
    if not plan.results.exists():
        return
    try:
        keys = set(read_results(plan.results)["key"].astype(str))
    except InputError as e:
        raise InputError(f"{plan.out} already holds a results.csv that is not a sweep's table "
                         f"({e}); choose another folder (it is never replaced)") from None
    if keys and not keys & {t.key for t in plan.tasks}:
        raise InputError(f"{plan.out} holds another sweep's table ({len(keys)} runs, none of "
                         "them this sweep's); choose another folder (it is never replaced)")
