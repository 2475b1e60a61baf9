"""The task API's request and response bodies, declared once for validation and for the
OpenAPI schema (`/openapi.json`, `/docs`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from svlab.work.tasks.execution.store import STATUSES
from svlab.core.text_caps import MAX_PROMPT_CHARS  # one cap everywhere

Status = Literal[STATUSES]  # type: ignore[valid-type]


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
    allow_fallback: bool = Field(False, description="answer with the fallback engine when the "
                                 "named model cannot run (default: the task fails, as the "
                                 "command line does; model=auto always may fall back)")


class TaskUpload(BaseModel):
    """The multipart form: the JSON request's fields (`settings` and `storyboard` as JSON
    text) and one conditioning image file."""

    image: bytes = Field(json_schema_extra={"format": "binary"},
                         description="conditioning image (PNG, JPEG, WebP, BMP, GIF, TIFF)")
    prompt: str | None = Field(None, max_length=MAX_PROMPT_CHARS)
    profile: str | None = None
    settings: str | None = Field(None, description="JSON object of settings")
    allow_fallback: bool = False


class TaskView(BaseModel):
    """A task: its state, progress (stage, step, scene, fraction), error or manifest, and
    where its video and captions are served once it has succeeded."""

    id: str
    status: Status
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


class TaskList(BaseModel):
    """Tasks newest first (without their manifests) and the count of tasks in each state."""

    tasks: list[TaskView]
    counts: dict[Status, int]


class WorkerView(BaseModel):
    name: str
    state: Literal["starting", "idle", "running", "stopped"]
    task: str | None
    model: str | None = Field(description="the model its runner loaded (null: the fallback "
                                          "engine, or not started yet)")
    gpu: str | None = Field(None, description="the CUDA device its runner sees (null: "
                                              "the server's own devices, or a CPU)")


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    worker_busy: bool
    workers: list[WorkerView]
    counts: dict[Status, int]
    limits: dict[str, float]


class ErrorDetail(BaseModel):
    """Every error: one line saying what was wrong and what is accepted."""

    detail: str
