"""The HTTP API: post a prompt (or a storyboard, or an image) and get a finished video later.

    POST   /api/tasks/              queue a task; answers 202 at once with its id
    GET    /api/tasks               list tasks, newest first (?status=, ?limit=)
    GET    /api/tasks/{id}          status, progress per scene, error, manifest
    GET    /api/tasks/{id}/video    the MP4 (range requests work, so players can seek)
    GET    /api/tasks/{id}/subtitles.vtt | .srt
    DELETE /api/tasks/{id}          cancel
    GET    /api/health              liveness, model, queue counts

Tasks are rows in SQLite (see store.py), run by one worker thread (worker.py). Every request
is validated before anything is stored: a bad one gets a 4xx with a one-line `detail` and
changes nothing.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import VideoConfig
from ..errors import ModelUnavailableError, SvlabError
from ..models import list_specs
from ..processor.ffmpeg import atomic_output
from ..run.clip import cached_loader, model_to_load, unload_models
from ..storyboards import storyboard_from_dict, storyboard_from_prompt
from .store import FINISHED, STATUSES, TaskStore, valid_task_id
from .worker import Worker, inputs_dir, task_config, uploads_dir, video_path

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 2000
MAX_JSON_BYTES = 1 << 20
MAX_UPLOAD_BYTES = 20 << 20
IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp", "GIF": ".gif",
                 "TIFF": ".tiff"}
MAX_IMAGE_PIXELS = 64_000_000


class TaskRequest(BaseModel):
    """What to make. Give a prompt, or a storyboard, or (multipart) an image with an optional
    prompt. `settings` are svlab setting names (num_frames, seed, model, ...)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(None, min_length=1, max_length=MAX_PROMPT_CHARS,
                               examples=["制作一段关于森林探险的短视频"])
    storyboard: dict[str, Any] | None = Field(
        None, description="a storyboard as in docs/storyboards.md (images relative to "
                          "the data folder's inputs/)")
    profile: str | None = Field(None, description="standard, low-vram or cpu-tiny")
    settings: dict[str, Any] = Field(default_factory=dict, examples=[{"num_frames": 14}])


class TaskView(BaseModel):
    id: str
    status: str
    created: str
    started: str | None
    finished: str | None
    attempts: int
    queue_position: int | None
    cancel_requested: bool
    request: dict[str, Any]
    progress: dict[str, Any] | None
    error: str | None
    manifest: dict[str, Any] | None = None
    video_url: str | None
    subtitles: dict[str, str] | None


def _iso(t: float | None) -> str | None:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds") if t \
        else None


def _validation_message(error: ValidationError | RequestValidationError) -> str:
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = (f"unknown field; accepted: {', '.join(TaskRequest.model_fields)}"
                   if where.count(".") == 0 else "unknown field")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def _request_body_docs() -> dict[str, Any]:
    schema = TaskRequest.model_json_schema()
    multipart = {
        "type": "object",
        "properties": {
            "image": {"type": "string", "format": "binary",
                      "description": "conditioning image (PNG, JPEG, WebP, ...)"},
            "prompt": {"type": "string"},
            "profile": {"type": "string"},
            "settings": {"type": "string", "description": "JSON object of settings"},
        },
    }
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": schema},
        "multipart/form-data": {"schema": multipart},
    }}}


def preload_model(config: VideoConfig):
    """Load the server's model once at start (None for the fallback engine). A model that
    cannot load is logged, not fatal: tasks then run on the fallback engine and say why."""
    model, reason = model_to_load(config)
    if model is None:
        log.warning("no model will be loaded: %s", reason)
        return None
    try:
        loader = cached_loader(config.replace(model=model))
        loader.load()
        return loader
    except ModelUnavailableError as e:
        log.warning("model %r could not be loaded, tasks will use the fallback engine: %s",
                    model, e)
        return None


def create_app(data: str | Path, config: VideoConfig, *, preload: bool = True,
               max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:
    """The application, with its store and worker over the `data` folder."""
    data = Path(data).resolve()
    for folder in (uploads_dir(data), inputs_dir(data)):
        folder.mkdir(parents=True, exist_ok=True)
    store = TaskStore(data / "tasks.db")
    worker = Worker(store, data, config)
    # A request may pick a registered model, never a folder or hub id: paths on the server
    # are the operator's choice (`svlab serve --model`), not a client's.
    allowed_models = {"auto", "fallback", config.model, *(s.id for s in list_specs())}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.loader = preload_model(config) if preload else None
        worker.start()
        try:
            yield
        finally:
            worker.stop()
            if app.state.loader is not None:
                unload_models()

    app = FastAPI(title="svlab", version="0.1.0", lifespan=lifespan,
                  description="Prompt or storyboard in, short video out. See docs/api.md.")
    app.state.store, app.state.worker, app.state.data = store, worker, data

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    def view(task: dict[str, Any], *, manifest: bool = True) -> dict[str, Any]:
        done = task["status"] == "succeeded"
        base = f"/api/tasks/{task['id']}"
        captions = None
        if done and video_path(data, task["id"]).with_suffix(".vtt").is_file():
            captions = {"vtt": f"{base}/subtitles.vtt", "srt": f"{base}/subtitles.srt"}
        result = {
            "id": task["id"], "status": task["status"], "created": _iso(task["created"]),
            "started": _iso(task["started"]), "finished": _iso(task["finished"]),
            "attempts": task["attempts"], "cancel_requested": task["cancel_requested"],
            "queue_position": store.queue_position(task["id"])
            if task["status"] == "queued" else None,
            "request": task["request"], "progress": task["progress"], "error": task["error"],
            "video_url": f"{base}/video" if done else None, "subtitles": captions,
        }
        if manifest:
            result["manifest"] = task["manifest"]
        return result

    def get_task(task_id: str) -> dict[str, Any]:
        task = store.get(task_id) if valid_task_id(task_id) else None
        if task is None:
            raise HTTPException(404, f"no task with id {task_id!r} (ids are 32 hex digits, as "
                                     "POST /api/tasks/ returned them)")
        return task

    def unprocessable(message: str) -> HTTPException:
        return HTTPException(422, message)

    async def parse(request: Request) -> tuple[dict[str, Any], bytes | None]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        length = int(request.headers.get("content-length") or 0)
        if ctype == "application/json":
            if length > MAX_JSON_BYTES:
                raise HTTPException(413, f"JSON body of {length} bytes is too large; "
                                         f"accepted: up to {MAX_JSON_BYTES} bytes")
            body = await request.body()
            try:
                fields = json.loads(body)
            except (ValueError, UnicodeDecodeError) as e:
                raise HTTPException(400, f"request body is not valid JSON: {e}") from None
            if not isinstance(fields, dict):
                raise unprocessable("request body must be a JSON object")
            image = None
        elif ctype == "multipart/form-data":
            if length > max_upload_bytes + (64 << 10):
                raise HTTPException(413, f"upload of {length} bytes is too large; accepted: "
                                         f"images up to {max_upload_bytes} bytes")
            try:
                form = await request.form(max_files=1, max_fields=8)
            except StarletteHTTPException as e:
                raise HTTPException(e.status_code, f"cannot read the form: {e.detail}") from None
            fields, image = {}, None
            for key, value in form.multi_items():
                if key == "image":
                    if not isinstance(value, UploadFile):
                        raise unprocessable("image must be a file upload")
                    image = await value.read(max_upload_bytes + 1)
                    if len(image) > max_upload_bytes:
                        raise HTTPException(413, f"image upload is larger than "
                                                 f"{max_upload_bytes} bytes")
                elif key in ("settings", "storyboard"):
                    try:
                        fields[key] = json.loads(value)
                    except ValueError as e:
                        raise unprocessable(f"{key} must be a JSON object: {e}") from None
                else:
                    fields[key] = value
        else:
            raise HTTPException(415, f"unsupported content type {ctype or 'none'!r}; "
                                     "accepted: application/json, multipart/form-data")
        try:
            parsed = TaskRequest.model_validate(fields)
        except ValidationError as e:
            raise unprocessable(_validation_message(e)) from None
        return parsed.model_dump(), image

    def check(fields: dict[str, Any], image: bytes | None) -> str | None:
        """Validate a request completely; returns the image's file suffix."""
        given = [k for k in ("prompt", "storyboard") if fields[k] is not None]
        if image is not None and fields["storyboard"] is not None:
            raise unprocessable("an uploaded image goes with a prompt, not a storyboard; "
                                "storyboard images are files under the data folder's inputs/")
        if image is None and len(given) != 1:
            raise unprocessable("give exactly one of prompt or storyboard (or upload an image)")
        if fields["prompt"] is not None and not fields["prompt"].strip():
            raise unprocessable("prompt must not be blank")
        try:
            model = task_config(fields, config).model
            if model not in allowed_models:
                raise unprocessable(f"model {model!r} cannot be chosen per task; accepted: "
                                    + ", ".join(sorted(allowed_models)))
            if fields["storyboard"] is not None:
                storyboard_from_dict(fields["storyboard"], base_dir=inputs_dir(data),
                                     root=inputs_dir(data))
            elif image is None:
                storyboard_from_prompt(fields["prompt"])
        except SvlabError as e:
            raise unprocessable(str(e)) from None
        return _image_suffix(image) if image is not None else None

    @app.post("/api/tasks/", status_code=202, response_model=TaskView,
              openapi_extra=_request_body_docs(), summary="Queue a task")
    async def create_task(request: Request):
        fields, image = await parse(request)
        # Validation (Pillow, storyboard files) and the durable insert block: off the loop.
        task = await run_in_threadpool(accept, fields, image)
        return JSONResponse(task, status_code=202,
                            headers={"Location": f"/api/tasks/{task['id']}"})

    def accept(fields: dict[str, Any], image: bytes | None) -> dict[str, Any]:
        suffix = check(fields, image)
        if image is not None:
            name = f"{uuid.uuid4().hex}{suffix}"
            with atomic_output(uploads_dir(data) / name) as tmp:
                tmp.write_bytes(image)
            fields["image"] = f"uploads/{name}"
        task = store.create(fields)
        worker.wake()
        return view(task)

    # Same handler without the slash: a redirect would make clients re-send the body.
    app.add_api_route("/api/tasks", create_task, methods=["POST"], status_code=202,
                      include_in_schema=False)

    @app.get("/api/tasks", summary="List tasks, newest first")
    def list_tasks(status: str | None = Query(None, description=", ".join(STATUSES)),
                   limit: int = Query(100, ge=1, le=1000)):
        if status is not None and status not in STATUSES:
            raise unprocessable(f"unknown status {status!r}; accepted: {', '.join(STATUSES)}")
        return {"tasks": [view(t, manifest=False) for t in store.list(status=status,
                                                                        limit=limit)],
                "counts": store.counts()}

    app.add_api_route("/api/tasks/", list_tasks, methods=["GET"], include_in_schema=False)

    @app.get("/api/tasks/{task_id}", response_model=TaskView, summary="One task")
    def read_task(task_id: str):
        return view(get_task(task_id))

    @app.get("/api/tasks/{task_id}/video", summary="The finished video (MP4, seekable)",
             response_class=FileResponse)
    def read_video(task_id: str):
        task = get_task(task_id)
        path = video_path(data, task_id)
        if task["status"] != "succeeded":
            raise HTTPException(409, f"task {task_id} is {task['status']}; its video is "
                                     "served once the task has succeeded")
        if not path.is_file():
            raise HTTPException(410, f"the video of task {task_id} was removed from the "
                                     "data folder")
        return FileResponse(path, media_type="video/mp4", filename=f"{task_id}.mp4",
                            content_disposition_type="inline")

    @app.get("/api/tasks/{task_id}/subtitles.{fmt}", summary="Captions (vtt or srt)")
    def read_subtitles(task_id: str, fmt: str):
        task = get_task(task_id)
        if fmt not in ("vtt", "srt"):
            raise HTTPException(404, f"unknown subtitle format {fmt!r}; accepted: vtt, srt")
        path = video_path(data, task_id).with_suffix(f".{fmt}")
        if task["status"] != "succeeded" or not path.is_file():
            raise HTTPException(404, f"task {task_id} has no {fmt} captions")
        media = "text/vtt" if fmt == "vtt" else "application/x-subrip"
        return FileResponse(path, media_type=f"{media}; charset=utf-8")

    @app.delete("/api/tasks/{task_id}", status_code=202, response_model=TaskView,
                summary="Cancel a task")
    def cancel_task(task_id: str):
        task = get_task(task_id)
        if task["status"] in FINISHED:
            raise HTTPException(409, f"task {task_id} already {task['status']}; only queued "
                                     "or running tasks can be cancelled")
        task = store.request_cancel(task_id)
        worker.cancel(task_id)
        return JSONResponse(view(task), status_code=202)

    @app.get("/api/health", summary="Liveness, model and queue")
    def health():
        return {"status": "ok", "model": config.model, "worker_busy": worker.busy,
                "counts": store.counts()}

    return app


def _image_suffix(data: bytes) -> str:
    """The file suffix of an uploaded image, once Pillow has read all of it (415 if not)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, (width, height) = im.format, im.size
            if width * height > MAX_IMAGE_PIXELS:  # checked before decoding anything
                raise HTTPException(413, f"image of {width}x{height} has more than "
                                         f"{MAX_IMAGE_PIXELS} pixels")
            im.load()
    except HTTPException:
        raise
    except Exception:
        raise HTTPException(415, "upload is not a readable image; accepted: "
                                 + ", ".join(IMAGE_FORMATS)) from None
    if fmt not in IMAGE_FORMATS:
        raise HTTPException(415, f"image format {fmt} is not accepted; accepted: "
                                 + ", ".join(IMAGE_FORMATS))
    return IMAGE_FORMATS[fmt]
