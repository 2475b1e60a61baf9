"""`svlab serve`: the task API (FastAPI on uvicorn), bound to loopback by default."""

from __future__ import annotations

import argparse

from .common import add_config_flags, config_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP task API",
                       description="Serve the task API (docs/api.md): POST a prompt or a "
                                   "storyboard to /api/tasks/, poll, download the video. Tasks "
                                   "are kept in DATA/tasks.db and survive restarts. The model "
                                   "is loaded at start; OpenAPI docs at /docs.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--data", default="svlab-data",
                   help="folder for the task database, uploads and videos (default ./svlab-data)")
    p.add_argument("--max-upload-mb", type=float, default=20.0,
                   help="largest accepted image upload in MiB (default 20)")
    p.add_argument("--log-level", default="info",
                   choices=("critical", "error", "warning", "info", "debug"))
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError

    if not 0 < args.port < 65536:
        raise InputError(f"--port {args.port} is out of range; accepted: 1 to 65535")
    if args.max_upload_mb <= 0:
        raise InputError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    config = config_from_args(args)
    import uvicorn

    from ..tasks.api import create_app

    app = create_app(args.data, config, max_upload_bytes=int(args.max_upload_mb * (1 << 20)))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10)
    return 0
