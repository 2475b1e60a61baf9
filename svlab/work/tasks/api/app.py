"""The task API application: the routes (routes.py) over a store, workers and a data folder,
with the access policy in front and one JSON shape for every error.

Every error a client can meet is JSON `{"detail": "one line"}` with its status: the routes'
own refusals, FastAPI's validation errors, a body over the size limit (streamed, stopped at
the limit), 404/405 for unknown paths and methods, 507 when the data folder's disk is full,
and 500, without internals, for a bug (whose traceback goes to the server log).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.datastructures import Headers
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Receive, Scope, Send

from svlab.core.config import VideoConfig
from svlab.core.errors import InputError
from svlab.work.distributed import PoolSettings
from svlab.work.tasks.api.admission import Admission
from svlab.work.tasks.execution.devices import runner_gpus, visible_gpus
from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full, one_line, redact
from svlab.work.tasks.api.intake import validation_message
from svlab.work.tasks.execution.data_folder import DataFolder, clean_at_start, prune_uploads
from svlab.work.tasks.api.limits import ServerLimits
from svlab.work.tasks.api.routes import DEFAULT_MAX_QUEUE, TaskServer, router
from svlab.work.tasks.api.security import AccessPolicy, SameSiteGuard
from svlab.work.tasks.execution.ray_workers import RayWorkers
from svlab.work.tasks.execution.store import TaskStore
from svlab.work.tasks.execution.local_worker import Worker
from svlab.work.tasks.execution.workers import TaskWorkers

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 20 << 20
FORM_OVERHEAD = 64 << 10  # multipart headers and text fields around the image
UPLOAD_RETENTION_SECONDS = 24 * 3600.0
PRUNE_INTERVAL = 600.0


def create_app(data, config: VideoConfig, *, preload: bool = True,
               max_upload_bytes: int = MAX_UPLOAD_BYTES,
               limits: ServerLimits = ServerLimits(),
               policy: AccessPolicy = AccessPolicy(),
               upload_retention: float = UPLOAD_RETENTION_SECONDS,
               workers: int = 1, ray: PoolSettings | None = None,
               ray_address: str | None = None, max_queue: int = DEFAULT_MAX_QUEUE,
               allow_fallback: bool = False) -> FastAPI:
    """The application over the `data` folder, its tasks run by `workers` local workers (on
    the GPUs round robin, where there are any), or, with `ray`, by Ray workers of those
    settings (at `ray_address`, or the Ray session already open). Raises InputError when the
    folder or its database cannot be used."""
    try:
        folder = DataFolder.create(data)
    except OSError as e:
        raise InputError(f"cannot use {str(data)!r} as the data folder: "
                         f"{e.strerror or e}") from None
    store = TaskStore(folder.database)
    server = TaskServer(
        data=folder, config=config, store=store,
        admission=Admission.for_server(folder, config, limits),
        workers=make_workers(store, folder, config, limits.task_timeout, preload=preload,
                             workers=workers, ray=ray, ray_address=ray_address),
        max_upload_bytes=max_upload_bytes, max_queue=max_queue, allow_fallback=allow_fallback)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(start, server, upload_retention)
        pruning = asyncio.create_task(prune_periodically(server, upload_retention))
        try:
            yield
        finally:
            pruning.cancel()
            with suppress(asyncio.CancelledError):
                await pruning
            await run_in_threadpool(stop, server)

    app = FastAPI(title="svlab", version="0.1.0", lifespan=lifespan,
                  description="Prompt or storyboard in, short video out. See docs/api.md.")
    app.state.server, app.state.policy = server, policy
    max_body = max_upload_bytes + FORM_OVERHEAD
    app.include_router(router, max_body_size=max_body)  # streamed, stopped at the limit
    app.add_middleware(DeclaredSizeLimit, max_body=max_body)
    app.add_middleware(SameSiteGuard, policy=policy)
    add_error_handlers(app, folder)
    return app


def make_workers(store: TaskStore, folder: DataFolder, config: VideoConfig,
                 task_timeout: float, *, preload: bool, workers: int,
                 ray: PoolSettings | None, ray_address: str | None) -> list[TaskWorkers]:
    """The server's workers: one dispatcher over Ray workers, or `workers` local ones, the
    runner of local worker i on GPU i mod the GPU count (none on a CPU)."""
    if ray is not None:
        return [RayWorkers(store, folder, config, task_timeout=task_timeout, settings=ray,
                           address=ray_address)]
    gpus = runner_gpus(workers, config.device, visible_gpus())
    return [Worker(store, folder, config, task_timeout=task_timeout, preload=preload,
                   name=f"worker-{i + 1}", gpu=gpus[i]) for i in range(workers)]


def start(server: TaskServer, upload_retention: float) -> None:
    """Clean what a previous server left, re-queue its interrupted tasks, start the workers."""
    cleaned = clean_at_start(server.data, server.store)
    if any(cleaned.values()):
        log.warning("cleaned the data folder at start: %s", cleaned)
    recovered = server.store.recover_interrupted()
    if any(recovered.values()):
        log.warning("interrupted tasks from the last run: %s", recovered)
    prune_uploads(server.data, server.store, upload_retention)
    for worker in server.workers:
        worker.start()


def stop(server: TaskServer) -> None:
    for worker in server.workers:
        worker.stop()
    server.store.close()


async def prune_periodically(server: TaskServer, upload_retention: float) -> None:
    while True:
        await asyncio.sleep(PRUNE_INTERVAL)
        try:
            removed = await run_in_threadpool(prune_uploads, server.data, server.store,
                                              upload_retention)
            if removed:
                log.info("removed %d uploads past their retention", removed)
        except Exception:
            log.exception("pruning uploads failed")


class DeclaredSizeLimit:
    """413 (JSON) at once for a body whose Content-Length is over the limit. The routes'
    `max_body_size` stops a body that grows past it while streaming; for a declared length
    it would answer text/plain."""

    def __init__(self, app: ASGIApp, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = Headers(scope=scope).get("content-length", "")
            if length.isdigit() and int(length) > self.max_body:
                response = JSONResponse({"detail": f"request body of {length} bytes is too "
                                         f"large; accepted: up to {self.max_body} bytes"}, 413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def add_error_handlers(app: FastAPI, folder: DataFolder) -> None:
    """One JSON shape for every error, with no server path in it."""

    def answer(status: int, detail: str, headers=None) -> JSONResponse:
        return JSONResponse({"detail": one_line(redact(detail, folder.root))}, status,
                            headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 413 and detail == "Content Too Large":  # the body limit's
            limit = request.scope.get(MAX_BODY_SIZE_SCOPE_KEY)
            detail = f"request body is too large; accepted: up to {limit} bytes" if limit \
                else "request body is too large"
        return answer(exc.status_code, detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        return answer(422, validation_message(exc.errors()))

    @app.exception_handler(OSError)
    @app.exception_handler(sqlite3.Error)
    async def storage(request: Request, exc: Exception):
        if is_storage_full(exc):
            return answer(507, f"{STORAGE_FULL}; try again once space is freed")
        return await internal(request, exc)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):
        log.error("error answering %s %s", request.method, request.url.path,
                  exc_info=(type(exc), exc, exc.__traceback__))
        return answer(500, "internal error (the server log has the details)")
