"""`svlab sweep`: many runs from one sweep file, resumable, into one folder and one table.

Exit status: 0 when every run is done, 1 when some failed (the table says why; running the
sweep again retries them), 2 for a mistake in the sweep found before anything ran.
"""

from __future__ import annotations

import argparse

from svlab.face.cli.common import add_json_flag, add_ray_flags, pool_settings, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a sweep of settings x inputs; resumable, one results table",
        description="Run every run of a sweep file (base settings, inputs, and a grid, zip, "
                    "runs and/or seeds that vary them) into DIR: DIR/runs/<key>.mp4 with its "
                    "manifest, DIR/results.csv with a row per run (varied settings, status, "
                    "metrics). Running it again makes only what is missing or failed. See "
                    "docs/sweeps.md.")
    p.add_argument("sweep", metavar="SWEEP.yaml", help="the sweep file (.yaml, .yml or .json)")
    p.add_argument("--out", required=True, metavar="DIR", help="the sweep's folder")
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs, how many are done, and the predicted peak memory of "
                        "each distinct setting; run nothing")
    p.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help="allow a sweep of more than 10,000 runs")
    p.add_argument("--allow-fallback", action="store_true",
                   help="answer an explicitly named model that cannot load with the fallback "
                        "engine (default: those runs fail, with the reason in the table)")
    p.add_argument("--no-reuse", dest="reuse", action="store_false",
                   help="compute every run's image conditioning anew (default: reused where "
                        "the inputs are identical; frames are the same either way)")
    p.add_argument("--no-metrics", dest="metrics", action="store_false",
                   help="do not measure the videos")
    add_ray_flags(p, what="runs")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from svlab.core.manifest import jsonable
    from svlab.work.sweep import plan_sweep
    from svlab.work.sweep.executors import ExecutionOptions, LocalExecutor
    from svlab.work.sweep.ray_executor import RayExecutor
    from svlab.work.sweep.driver import run_plan

    settings = None if args.dry_run else pool_settings(args)  # None: here, one after another
    plan = plan_sweep(args.sweep, args.out, max_runs=args.max_runs)
    if args.dry_run:
        return _dry_run(plan, args)
    options = ExecutionOptions(allow_fallback=args.allow_fallback, reuse=args.reuse,
                               metrics=args.metrics)
    if settings is None:
        table, workers = run_plan(plan, LocalExecutor(options), metrics=args.metrics), []
    else:  # Ray joined and the workers up before the bar is drawn (on stderr)
        with RayExecutor(options, address=args.ray, settings=settings) as executor:
            table = run_plan(plan, executor, metrics=args.metrics)
        workers = executor.summary
    counts = table["status"].value_counts().to_dict()
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    if args.json:
        print_json({"out": str(plan.out), "results": str(plan.results), "runs": len(table),
                    "done": done, "failed": failed,
                    "workers": [asdict(w) for w in workers],
                    "rows": jsonable(table.to_dict("records"))})  # strict: inf, NaN -> null
    else:
        print(f"{len(table)} runs: {done} done, {failed} failed; table: {plan.results}")
        for worker in workers:
            print(f"  worker {worker.line()}")
        for _, row in table[table["status"] == "failed"].iterrows():
            print(f"  failed {row['key']} ({row['input']}): {row['reason']}")
    return 1 if failed else 0


def _dry_run(plan, args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from svlab.work.sweep.dryrun import dry_run, format_dry_run

    report = dry_run(plan)
    if args.json:
        print_json({"out": report.out, "runs": report.runs, "total": len(report.runs),
                    "done": report.count("done"), "failed": report.count("failed"),
                    "pending": report.count("pending"),
                    "peaks": [asdict(p) for p in report.peaks]})
    else:
        print(format_dry_run(report, plan.varied))
    return 0
