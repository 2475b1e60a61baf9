"""The runner: a long-lived child process that runs tasks, with the model loaded once.

Why a process: a run can be stopped cooperatively only where the service calls back (each
keyframe, each denoising step), and an ffmpeg encode, an interpolation or a slow model step
may take minutes without a callback. A process can always be stopped. The worker thread
(local_worker.py) supervises one runner: it sends a `RunnerJob`, reads `Progress` and the `Outcome` back
through a pipe, and to cancel or enforce the time limit first sends `Stop` (honoured at the
next callback) and, after a short grace period, kills the runner's process group (the runner
and the ffmpeg it started) and starts a fresh runner.

The runner is spawned, not forked: the server has threads (uvicorn's, the store's), which
fork does not copy safely, and the runner imports torch and loads the model itself, so the
server process stays small. It leads its own process group, so killing it reaches its ffmpeg
children, and it kills that group itself when the server process dies (even by SIGKILL).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import InputError, ModelUnavailableError, SvlabError
from svlab.run.clip import cached_loader, model_to_load, unload_models
from svlab.render.service import generate
from svlab.render.storyboards import render_storyboard
from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full, one_line, redact
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.execution.recipe import task_config, task_storyboard

log = logging.getLogger(__name__)


# -- messages: worker -> runner ------------------------------------------------------------

@dataclass(frozen=True)
class RunnerJob:
    """Run one task, writing its result to `out` (a video path in its staging folder)."""

    task_id: str
    request: dict[str, Any]
    out: Path


@dataclass(frozen=True)
class Stop:
    """Stop the run of `task_id` at its next callback (cancelled, timed out, or shutdown)."""

    task_id: str


@dataclass(frozen=True)
class Shutdown:
    """Unload the model and exit (sent only between jobs)."""


# -- messages: runner -> worker ------------------------------------------------------------

@dataclass(frozen=True)
class Ready:
    """The runner has started; `model` is the model it loaded (None: the fallback engine)."""

    model: str | None


@dataclass(frozen=True)
class Progress:
    task_id: str
    event: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """How a run ended: "succeeded" (with the manifest), "failed" (with a one-line error
    that names no server path) or "stopped" (after a Stop)."""

    task_id: str
    status: str
    manifest: dict[str, Any] | None = None
    error: str | None = None


class Stopped(Exception):
    """Raised inside a run, at a callback, when the worker asked it to stop."""


def start_runner(data: DataFolder, config: VideoConfig, *, preload: bool, log_level: int,
                 gpu: str | None = None) -> tuple[multiprocessing.Process, Connection]:
    """Spawn a runner; returns the process and the worker's end of its pipe. `gpu`: the
    CUDA device the runner alone sees (CUDA_VISIBLE_DEVICES), None to leave it as it is."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=runner_main, name="svlab-runner", daemon=True,
                              args=(theirs, data, config, preload, log_level, gpu))
    process.start()
    theirs.close()
    return process, ours


def runner_main(conn: Connection, data: DataFolder, config: VideoConfig, preload: bool,
                log_level: int, gpu: str | None = None) -> None:
    """The runner process: announce Ready, then run Jobs until Shutdown or the pipe closes."""
    if gpu is not None:  # before anything initialises CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when the runner ends
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    threading.Thread(target=_die_with_parent, name="parent-watch", daemon=True).start()
    conn.send(Ready(preload_model(config) if preload else None))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            break
        if isinstance(message, Shutdown):
            break
        if isinstance(message, RunnerJob):
            conn.send(run_job(message, conn, data, config))
    unload_models()


def preload_model(config: VideoConfig) -> str | None:
    """Load the server's model once (None: the fallback engine answers). A model that cannot
    load is logged, not fatal: tasks then run on the fallback engine and say why."""
    model, reason = model_to_load(config)
    if model is None:
        log.warning("no model will be loaded: %s", reason)
        return None
    try:
        cached_loader(config.replace(model=model)).load()
    except ModelUnavailableError as e:
        log.warning("model %r could not be loaded, tasks will use the fallback engine: %s",
                    model, e)
        return None
    return model


def run_job(job: RunnerJob, conn: Connection, data: DataFolder, base: VideoConfig) -> Outcome:
    """Run one task to its Outcome; never raises for a failure of the task itself."""
    def callback(event: dict[str, Any]) -> None:
        conn.send(Progress(job.task_id, plain_event(event)))
        while conn.poll():
            message = conn.recv()
            if isinstance(message, Stop) and message.task_id == job.task_id:
                raise Stopped()

    try:
        manifest = run_task(job.request, data, job.out, base, callback)
    except Stopped:
        return Outcome(job.task_id, "stopped")
    except Exception as e:  # a failed task is an outcome, whatever failed
        return Outcome(job.task_id, "failed", error=failure_message(e, job.task_id, data.root))
    return Outcome(job.task_id, "succeeded", manifest=manifest)


def failure_message(error: Exception, task_id: str, root: Path) -> str:
    """What a client reads about a failed run: one line, no server path; a bug's traceback
    goes to the log."""
    if is_storage_full(error):
        message = f"{STORAGE_FULL} ({error.__class__.__name__}: {error})"
    elif isinstance(error, SvlabError):
        message = str(error)
    else:
        log.exception("task %s failed", task_id, exc_info=error)
        message = f"internal error: {type(error).__name__}: {error}"
    return one_line(redact(message, root))


def run_task(request: dict[str, Any], data: DataFolder, out: Path, base: VideoConfig,
             callback) -> dict[str, Any]:
    """Run one stored request; returns the manifest of the video written at `out`. A named
    model that cannot run fails the task unless the task (or the server) allows the fallback
    engine; model=auto always may fall back."""
    allow_fallback = bool(request.get("allow_fallback", False))
    config = task_config(request, base)
    board = task_storyboard(request, data)
    if board is not None:
        return render_storyboard(board, config, out, callback=callback,
                                 allow_fallback=allow_fallback).manifest
    image = data.root / request["image"]
    if not image.is_file():
        raise InputError(f"the uploaded image {request['image']} is gone from the data folder")
    return generate(image=image, prompt=request.get("prompt"), config=config, out=out,
                    callback=callback, allow_fallback=allow_fallback).manifest


def _die_with_parent() -> None:
    """Kill this process group (the runner and its ffmpeg) once the server has died.

    The server's end of the sentinel closes as it dies, a moment before this process is
    handed to a new parent; so the watch waits for that hand-over (the sentinel also closes
    when this runner exits normally, and then the hand-over never comes)."""
    server = os.getppid()
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
    while os.getppid() == server:
        time.sleep(0.05)
    os.killpg(os.getpgrp(), signal.SIGKILL)


def plain_event(event: dict[str, Any]) -> dict[str, Any]:
    """A progress event with only the values that travel as JSON."""
    return {k: v for k, v in event.items() if isinstance(v, (str, int, float, bool, type(None)))}
