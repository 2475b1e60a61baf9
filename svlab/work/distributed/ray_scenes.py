"""A storyboard's scenes made in parallel on Ray workers; the rest of the render (keyframes,
joining, captions, music, the manifest) stays on the driver, so the video is the one a local
render makes.

    render_storyboard(board, config, "film.mp4", scenes_on=RayScenes(address="auto"))

Each scene is one job of a `svlab.work.distributed.WorkerPool` (affinity: the model loading key,
so a worker loads its model once and keeps it for the scenes it gets). A worker makes the
scene's clip exactly as a local render does (`render_scene`) into a folder of its own and
sends back the encoded MP4 (never raw frames) and its stage figures; the driver writes it
where the local render would have, and adds the figures to the storyboard's stages.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from svlab.work.distributed import Job, JobOutcome, PoolSettings, WorkerPool, WorkerSummary, ray_session
from svlab.core.errors import SvlabError
from svlab.memory import StageTracker
from svlab.core.records import StageStats
from svlab.run.clip import device_of, loading_key
from svlab.run.stages import Callback
from svlab.render.storyboards.renderer import RenderedScene, SceneJob, render_scene


@dataclass
class SceneOutput:
    """What a worker sends back for a scene: the clip's bytes, its scene record (the path only
    names the file), and the stages it measured."""

    video: bytes
    scene: RenderedScene
    stages: dict[str, StageStats]


class RayScenes:
    """Makes a storyboard's scene clips on Ray (at `address`, or on a Ray started here), with
    the workers `settings` describe. After a render, `summary` holds each worker's share."""

    def __init__(self, *, address: str | None = None, settings: PoolSettings = PoolSettings()):
        self.address, self.settings = address, settings
        self.summary: list[WorkerSummary] = []

    def __call__(self, jobs: list[SceneJob], work: Path, tracker: StageTracker,
                 notify: Callback, *, allow_fallback: bool = False) -> list[RenderedScene]:
        outputs: dict[int, SceneOutput] = {}
        failures: list[str] = []

        def finished(outcome: JobOutcome) -> None:
            index = int(outcome.key)
            if outcome.error is not None:
                failures.append(f"scene {index + 1}: {outcome.error}")
                return
            outputs[index] = outcome.value
            notify({"stage": "clip", "scene": index + 1, "scenes": len(jobs), "done": True})

        with ray_session(self.address), WorkerPool(self.settings) as pool:
            pool.run([Job(str(job.index), repr(loading_key(job.config)), make_scene,
                          (job, allow_fallback)) for job in jobs], finished)
            self.summary = pool.summary()
        if failures:
            raise SvlabError("; ".join(failures))
        scenes = []
        for job in jobs:
            output = outputs[job.index]
            path = work / output.scene.path.name
            path.write_bytes(output.video)
            tracker.merge(output.stages)
            scenes.append(replace(output.scene, path=path))
        return scenes


def make_scene(state: dict, job: SceneJob, allow_fallback: bool) -> SceneOutput:
    """On a worker: one scene's clip, made in a folder of its own (svlab's model cache keeps
    the model for the worker's next scene)."""
    tracker = StageTracker(device_of(job.config), release_heap=False)
    with tempfile.TemporaryDirectory(prefix="svlab-scene-") as folder:
        scene = render_scene(job, Path(folder), tracker, lambda event: None,
                             allow_fallback=allow_fallback)
        video = scene.path.read_bytes()
    return SceneOutput(video, scene, tracker.table())
