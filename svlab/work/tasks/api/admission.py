"""Deciding whether a task may be queued, and storing it when it may.

A request is checked completely before anything is written: its fields, the model it names,
its storyboard (files confined to inputs/), its settings (through the same `task_config` the
runner uses) and the work it asks for (the server's limits). A refused request leaves nothing
behind; an accepted one is a committed row (and its uploaded image) before the 202.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException

from svlab.core.config import VideoConfig
from svlab.core.errors import SvlabError
from svlab.models import list_specs
from svlab.core.files import atomic_output
from svlab.work.tasks.execution.faults import STORAGE_FULL, is_storage_full, one_line, redact
from svlab.work.tasks.api.intake import Refused, Submission, image_suffix
from svlab.work.tasks.execution.data_folder import DataFolder
from svlab.work.tasks.api.limits import ServerLimits, check_work, task_shots, work_of
from svlab.work.tasks.execution.recipe import task_config, task_storyboard
from svlab.work.tasks.execution.store import TaskStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    """What a request is checked against: the server's data folder, config and limits, and
    the models a request may choose."""

    data: DataFolder
    config: VideoConfig
    limits: ServerLimits
    models: frozenset[str]

    @classmethod
    def for_server(cls, data: DataFolder, config: VideoConfig,
                   limits: ServerLimits) -> "Admission":
        # A request may pick a registered model, never a folder or hub id: paths on the
        # server are the operator's choice (`svlab serve --model`), not a client's.
        models = frozenset({"auto", "fallback", config.model, *(s.id for s in list_specs())})
        return cls(data, config, limits, models)

    def check(self, submission: Submission) -> str | None:
        """Refused unless the request can be run; returns the upload's file suffix."""
        fields, image = submission.fields, submission.image
        if image is not None and fields["storyboard"] is not None:
            raise Refused(422, "an uploaded image goes with a prompt, not a storyboard; "
                               "storyboard images are files under the data folder's inputs/")
        if image is None and sum(fields[k] is not None for k in ("prompt", "storyboard")) != 1:
            raise Refused(422, "give exactly one of prompt or storyboard (or upload an image)")
        if fields["prompt"] is not None and not fields["prompt"].strip():
            raise Refused(422, "prompt must not be blank")
        request = {**fields, "image": "uploads/pending" if image is not None else None}
        try:
            config = task_config(request, self.config)
            if config.model not in self.models:
                raise Refused(422, f"model {config.model!r} cannot be chosen per task; "
                                   f"accepted: {', '.join(sorted(self.models))}")
            board = task_storyboard(request, self.data)
            check_work(work_of(task_shots(request, config, board)), self.limits)
        except SvlabError as e:
            raise Refused(422, one_line(redact(str(e), self.data.root))) from None
        except HTTPException:
            raise
        except Exception as e:  # a value the settings' or storyboard's checks missed
            log.error("a request hit an error its validation should have named; refused "
                      "with 422", exc_info=True)
            raise Refused(422, one_line(redact(f"invalid request: {type(e).__name__}: {e}",
                                               self.data.root))) from None
        return image_suffix(image) if image is not None else None

    def admit(self, submission: Submission, store: TaskStore) -> dict[str, Any]:
        """Check, then store the upload and the task (507 when the disk is full)."""
        suffix = self.check(submission)
        fields = dict(submission.fields)
        upload = None
        try:
            if suffix is not None:
                upload = self.data.uploads / f"{uuid.uuid4().hex}{suffix}"
                with atomic_output(upload) as tmp:
                    tmp.write_bytes(submission.image)
                fields["image"] = f"uploads/{upload.name}"
            return store.create(fields)
        except Exception as e:
            if upload is not None:
                upload.unlink(missing_ok=True)
            if is_storage_full(e):
                raise Refused(507, f"{STORAGE_FULL}; try again once space is freed") from None
            raise
