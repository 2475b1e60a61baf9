"""`svlab serve`: the task API (FastAPI on uvicorn), bound to loopback by default."""

from __future__ import annotations

import argparse
import math
import os

from svlab.face.cli.common import add_config_flags, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP task API",
                       description="Serve the task API (docs/api.md): POST a prompt or a "
                                   "storyboard to /api/tasks/, poll, download the video. Tasks "
                                   "are kept in DATA/tasks.db and survive restarts. The model "
                                   "is loaded at start (with --ray: by each worker, at its first "
                                   "task); OpenAPI docs at /docs.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; any other "
                        "needs a token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", default="svlab-data",
                   help="folder for the task database, uploads and videos (default ./svlab-data)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))
    access = p.add_argument_group("access (docs/api.md, security model)")
    access.add_argument("--token", default=None,
                        help="require 'Authorization: Bearer TOKEN' on every request "
                             "(default: $SVLAB_TOKEN; required when --host is not loopback)")
    access.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                        help="a web origin (https://host:port) whose pages may call the API; "
                             "repeatable (default: only the server's own pages)")
    limits = p.add_argument_group("limits per task (checked before a task is queued)")
    limits.add_argument("--max-frames", type=int, default=128,
                        help="frames the model makes per clip (default 128)")
    limits.add_argument("--max-steps", type=int, default=100,
                        help="denoising steps (default 100)")
    limits.add_argument("--max-pixel-frames", type=float, default=1e9,
                        help="width x height x output frames, summed over scenes (default 1e9)")
    limits.add_argument("--max-seconds", type=float, default=600.0,
                        help="seconds of output video (default 600)")
    limits.add_argument("--task-timeout", type=float, default=3600.0,
                        help="seconds a task may run before it is stopped and failed "
                             "(default 3600)")
    limits.add_argument("--max-upload-mb", type=float, default=20.0,
                        help="largest accepted image upload in MiB (default 20)")
    limits.add_argument("--max-queue", type=int, default=1000,
                        help="tasks waiting at most; one more is answered 429 with "
                             "Retry-After (default 1000)")
    limits.add_argument("--keep-uploads-hours", type=float, default=24.0,
                        help="hours an uploaded image is kept after its task finished "
                             "(default 24; 0: removed at the next cleanup)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="tasks run at once (default 1). Here: N workers, each with its own "
                        "runner process and copy of the model, worker i on GPU i mod the GPU "
                        "count (all on the CPU without one). With --ray: at most N Ray "
                        "workers (default: one per GPU, else one per node)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run tasks on Ray workers (pip install 'svlab[ray]'; docs/"
                        "distributed.md): one per GPU, or CPU workers with pinned threads, "
                        "each keeping its model. No ADDRESS: Ray started on this machine with "
                        "its CPUs and GPUs; 'auto': the cluster `ray start` made here; "
                        "HOST:PORT or ray://HOST:10001: a remote one. The task database stays "
                        "here; a worker that dies mid-task costs that task a retry elsewhere")
    add_config_flags(p)
    p.set_defaults(func=run, own_signals=True)  # uvicorn handles SIGTERM: a graceful stop


def run(args: argparse.Namespace) -> int:
    from svlab.core.errors import InputError
    from svlab.work.tasks.api.limits import ServerLimits
    from svlab.work.tasks.api.security import TOKEN_ENV, AccessPolicy

    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is out of range; accepted: 1 to 65535")
    for flag in ("max_upload_mb", "max_pixel_frames", "keep_uploads_hours"):
        value = getattr(args, flag)
        if not math.isfinite(value) or value < 0 or (value == 0 and flag != "keep_uploads_hours"):
            raise InputError(f"--{flag.replace('_', '-')} must be a positive number, "
                             f"got {value}")
    limits = ServerLimits(max_frames=args.max_frames, max_steps=args.max_steps,
                          max_pixel_frames=int(args.max_pixel_frames),
                          max_seconds=args.max_seconds, task_timeout=args.task_timeout)
    policy = AccessPolicy.for_bind(args.host, args.token or os.environ.get(TOKEN_ENV),
                                   tuple(args.allow_origin))
    if args.max_queue < 1:
        raise InputError(f"--max-queue must be at least 1, got {args.max_queue}")
    config = config_from_args(args)
    if not args.allow_fallback:
        check_model_runs(config.model)
    import contextlib

    import uvicorn

    from svlab.work.distributed import PoolSettings, ray_session, require_ray
    from svlab.work.tasks.api.app import create_app
    from svlab.work.tasks.execution.data_lock import data_folder_lock

    pool = None  # the Ray workers' settings, with --ray
    if args.ray is not None:
        require_ray()  # one clear line when Ray is not installed
        # A long-lived server: Ray may restart a dead worker without end (each task still
        # has its cap of workers lost, max_attempts).
        pool = PoolSettings(workers=args.workers, max_restarts=-1)
    # Ray is joined (or started) first, from the main thread: a bad address is one line and
    # exit status 2, before the data folder is touched or the port bound.
    with ray_session(args.ray) if pool is not None else contextlib.nullcontext(), \
            data_folder_lock(args.data):  # one server per data folder
        app = create_app(args.data, config,
                         max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
                         limits=limits, policy=policy,
                         upload_retention=args.keep_uploads_hours * 3600,
                         workers=args.workers or 1, ray=pool, max_queue=args.max_queue,
                         allow_fallback=args.allow_fallback)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                    timeout_graceful_shutdown=10)
    return 0


def check_model_runs(model: str) -> None:
    """InputError, before the server starts, when the explicitly named model cannot be found
    here (no weights, not a model folder): the same rule as `svlab generate`. `auto` and
    `fallback` always can; --allow-fallback serves the fallback engine instead."""
    from svlab.core.errors import ConfigError, InputError, ModelUnavailableError
    from svlab.models import resolve_model

    if model in ("auto", "fallback"):
        return
    try:
        resolve_model(model, download=False)
    except (ModelUnavailableError, ConfigError) as e:
        message = " ".join(str(e).split())
        raise InputError(f"--model {model!r} cannot run here: {message}; give another --model, "
                         "or --allow-fallback to serve the fallback engine instead") from None
