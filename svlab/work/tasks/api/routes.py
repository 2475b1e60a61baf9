"""The HTTP routes of the task API (docs/api.md), as one FastAPI router.

    POST   /api/tasks/              queue a task; answers 202 at once with its id
    GET    /api/tasks               list tasks, newest first (?status=, ?limit=)
    GET    /api/tasks/{id}          status, progress per scene, error, manifest
    GET    /api/tasks/{id}/video    the MP4 (HEAD and range requests work, so players seek)
    GET    /api/tasks/{id}/subtitles.vtt | .srt
    DELETE /api/tasks/{id}          cancel
    GET    /api/health              liveness, model, workers, queue counts, limits

The routes reach the server's state (store, workers, checks) through the `ServerDep`
dependency, and the token check is a dependency of the whole router, so it runs before any
body is read. Blocking work (SQLite, Pillow, storyboard files) runs in FastAPI's threadpool.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from svlab.core.config import VideoConfig
from svlab.work.tasks.api.admission import Admission
from svlab.work.tasks.execution.faults import redact, redact_tree
from svlab.work.tasks.api.intake import read_submission
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.api.schemas import ErrorDetail, Health, Status, TaskList, TaskRequest, TaskUpload, TaskView
from svlab.work.tasks.api.security import require_token
from svlab.work.tasks.execution.store import FINISHED, TaskStore, valid_task_id
from svlab.work.tasks.execution.workers import TaskWorkers

RANGE_PART = re.compile(r"\s*(?:([0-9]{1,20})\s*-\s*([0-9]{0,20})|-\s*([0-9]{1,20}))\s*")


DEFAULT_MAX_QUEUE = 1000  # tasks waiting at most (svlab serve --max-queue)
RETRY_AFTER_SECONDS = 30  # what a 429 tells a client to wait


@dataclass
class TaskServer:
    """What the routes work with; one per application (`app.state.server`)."""

    data: DataFolder
    config: VideoConfig
    store: TaskStore
    admission: Admission
    workers: list[TaskWorkers]
    max_upload_bytes: int
    max_queue: int = DEFAULT_MAX_QUEUE  # queued tasks at most; then 429 + Retry-After
    allow_fallback: bool = False  # an explicit model that cannot run: fallback, not failure

    def view(self, task: dict[str, Any], *, manifest: bool = True) -> dict[str, Any]:
        """A task as the API shows it (paths in its manifest relative to the data folder)."""
        done = task["status"] == "succeeded"
        base = f"/api/tasks/{task['id']}"
        captions = None
        if done and self.data.video(task["id"]).with_suffix(".vtt").is_file():
            captions = {"vtt": f"{base}/subtitles.vtt", "srt": f"{base}/subtitles.srt"}
        view = {
            "id": task["id"], "status": task["status"], "created": _iso(task["created"]),
            "started": _iso(task["started"]), "finished": _iso(task["finished"]),
            "attempts": task["attempts"], "cancel_requested": task["cancel_requested"],
            "queue_position": self.store.queue_position(task["id"])
            if task["status"] == "queued" else None,
            "request": task["request"], "progress": task["progress"],
            "error": redact(task["error"], self.data.root) if task["error"] else None,
            "video_url": f"{base}/video" if done else None, "subtitles": captions,
        }
        if manifest:
            view["manifest"] = redact_tree(task["manifest"], self.data.root)
        return view

    def wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()


def get_server(request: Request) -> TaskServer:
    return request.app.state.server


ServerDep = Annotated[TaskServer, Depends(get_server)]


def existing_task(task_id: str, server: ServerDep) -> dict[str, Any]:
    """The task named in the path, or 404."""
    task = server.store.get(task_id) if valid_task_id(task_id) else None
    if task is None:
        raise HTTPException(404, f"no task with id {task_id[:100]!r} (ids are 32 hex digits, "
                                 "as POST /api/tasks/ returned them)")
    return task


TaskDep = Annotated[dict[str, Any], Depends(existing_task)]

ERRORS = {code: {"model": ErrorDetail} for code in (401, 403, 404, 422)}
router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)


def _request_body_docs() -> dict[str, Any]:
    """Both content types of POST /api/tasks/, for the OpenAPI schema."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": TaskRequest.model_json_schema()},
        "multipart/form-data": {"schema": TaskUpload.model_json_schema()},
    }}}


@router.post("/tasks/", status_code=202, response_model=TaskView, summary="Queue a task",
             openapi_extra=_request_body_docs(),
             responses={code: {"model": ErrorDetail} for code in (400, 413, 415, 429, 507)})
async def create_task(request: Request, response: Response, server: ServerDep):
    queued = (await run_in_threadpool(server.store.counts))["queued"]
    if queued >= server.max_queue:  # before the body is read: a full queue costs nothing
        raise HTTPException(429, f"the queue is full ({queued} tasks waiting; accepted: at "
                                 f"most {server.max_queue}); try again later",
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    submission = await read_submission(request, server.max_upload_bytes)
    if server.allow_fallback:  # the server's --allow-fallback holds for every task
        submission.fields["allow_fallback"] = True
    task = await run_in_threadpool(server.admission.admit, submission, server.store)
    server.wake_workers()
    response.headers["Location"] = f"/api/tasks/{task['id']}"
    return await run_in_threadpool(server.view, task)


# The same operation without the slash: a redirect would make clients send the body again.
router.add_api_route("/tasks", create_task, methods=["POST"], status_code=202,
                     response_model=TaskView, include_in_schema=False)


@router.get("/tasks", response_model=TaskList, summary="List tasks, newest first",
            response_model_exclude={"tasks": {"__all__": {"manifest"}}})
def list_tasks(server: ServerDep, status: Annotated[Status | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    tasks = server.store.list(status=status, limit=limit)
    return {"tasks": [server.view(t, manifest=False) for t in tasks],
            "counts": server.store.counts()}


router.add_api_route("/tasks/", list_tasks, methods=["GET"], response_model=TaskList,
                     response_model_exclude={"tasks": {"__all__": {"manifest"}}},
                     include_in_schema=False)


@router.get("/tasks/{task_id}", response_model=TaskView, summary="One task")
def read_task(task: TaskDep, server: ServerDep):
    return server.view(task)


@router.get("/tasks/{task_id}/video", summary="The finished video (MP4; HEAD and Range work)",
            response_class=FileResponse,
            responses={code: {"model": ErrorDetail} for code in (409, 410, 416)})
def read_video(task: TaskDep, server: ServerDep, request: Request):
    if task["status"] != "succeeded":
        raise HTTPException(409, f"task {task['id']} is {task['status']}; its video is "
                                 "served once the task has succeeded")
    path = server.data.video(task["id"])
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise HTTPException(410, f"the video of task {task['id']} was removed from the "
                                 "data folder") from None
    check_range(request.headers.get("range"), size)
    return FileResponse(path, media_type="video/mp4", filename=f"{task['id']}.mp4",
                        content_disposition_type="inline")


router.add_api_route("/tasks/{task_id}/video", read_video, methods=["HEAD"],
                     response_class=FileResponse, include_in_schema=False)


@router.get("/tasks/{task_id}/subtitles.{fmt}", summary="Captions (vtt or srt)")
def read_subtitles(task: TaskDep, server: ServerDep, fmt: str):
    if fmt not in ("vtt", "srt"):
        raise HTTPException(404, f"unknown subtitle format {fmt[:20]!r}; accepted: vtt, srt")
    path = server.data.video(task["id"]).with_suffix(f".{fmt}")
    if task["status"] != "succeeded" or not path.is_file():
        raise HTTPException(404, f"task {task['id']} has no {fmt} captions")
    media = "text/vtt" if fmt == "vtt" else "application/x-subrip"
    return FileResponse(path, media_type=f"{media}; charset=utf-8")


@router.delete("/tasks/{task_id}", status_code=202, response_model=TaskView,
               summary="Cancel a task", responses={409: {"model": ErrorDetail}})
def cancel_task(task: TaskDep, server: ServerDep):
    if task["status"] in FINISHED:
        raise HTTPException(409, f"task {task['id']} already {task['status']}; only queued "
                                 "or running tasks can be cancelled")
    task = server.store.request_cancel(task["id"])
    for worker in server.workers:
        worker.cancel(task["id"])
    return server.view(task)


@router.get("/health", response_model=Health, summary="Liveness, model, workers and queue")
def health(server: ServerDep):
    workers = [view for worker in server.workers for view in worker.views()]
    return {"status": "ok", "model": server.config.model,
            "worker_busy": any(w["state"] == "running" for w in workers),
            "workers": workers, "counts": server.store.counts(),
            "limits": server.admission.limits.as_dict()}


def check_range(header: str | None, size: int) -> None:
    """416 unless a Range header is absent or a well-formed, satisfiable byte range set (the
    file response would answer a malformed one with text/plain)."""
    if header is None:
        return
    refused = HTTPException(416, f"Range {header[:100]!r} cannot be served; accepted: "
                                 f"bytes=START-END, bytes=START- or bytes=-LENGTH within "
                                 f"{size} bytes", headers={"Content-Range": f"bytes */{size}"})
    units, _, spec = header.partition("=")
    if units.strip().lower() != "bytes" or not spec.strip():
        raise refused
    for part in spec.split(","):
        if not part.strip() or part.strip() == "-":
            continue
        match = RANGE_PART.fullmatch(part)
        if match is None:
            raise refused
        first, last, suffix = match.groups()
        if suffix is not None:
            if int(suffix) == 0:
                raise refused
        elif int(first) >= size or (last and int(last) < int(first)):
            raise refused
    if not any(p.strip() not in ("", "-") for p in spec.split(",")):
        raise refused


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") if t \
        else None
