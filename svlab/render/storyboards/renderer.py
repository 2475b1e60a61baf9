"""Rendering a storyboard into one finished video:

    scene text ──► keyframe: the scene's image | text-to-image model | placeholder card
               ──► clip (`svlab.run.clip.generate_clip`: the model, or the fallback engine)
               ──► interpolated to the output fps ──► fitted to the scene's duration
    clips ──► concatenated (optional crossfade) ──► captions burned in ──► music ──► video
          ──► X.vtt / X.srt sidecars and the X.json manifest beside the video, together

Every intermediate lives in a hidden folder beside the output, removed in all cases; the video,
its captions and its manifest appear together or not at all (`svlab.media.outputs.Publication`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

from svlab.core.config import VideoConfig
from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.core.manifest import build_manifest, jsonable, output_facts
from svlab.memory import StageTracker
from svlab.models import TextToImage, VideoModelLoader
from svlab.models.text2image import TEXT2IMAGE_ENV
from svlab.media.outputs import Publication, video_output
from svlab.media import placeholder_image, read_video
from svlab.media.compose import Caption, add_music, burn_subtitles, write_subtitles
from svlab.media.concat import concat_videos
from svlab.media.images import fit_image, read_image
from svlab.core.records import ClipRecord, GenerationResult
from svlab.run.clip import device_of, encode_clip, generate_clip, interpolate_frames
from svlab.run.stages import Callback
from svlab.render.storyboards.board import Scene, Storyboard

log = logging.getLogger(__name__)

# Placeholder card colours, one per scene in turn, so scene changes are visible.
CARD_COLORS = ((40, 44, 52), (28, 58, 48), (62, 40, 60), (30, 48, 74), (70, 52, 30))


def keyframe(scene: Scene, config: VideoConfig, *, index: int = 0,
             text2image: TextToImage | None = None) -> tuple[Image.Image, dict[str, Any]]:
    """The scene's conditioning image at the config's size, and how it was made."""
    if scene.image is not None:
        image, described = read_image(scene.image)
        return fit_image(image, config.width, config.height), \
            {**described, "source": "image"}
    reason = None
    if text2image is not None:
        try:
            image = text2image(scene.text, config.width, config.height, config.seed)
            return fit_image(image, config.width, config.height), \
                {"source": "text-to-image", "model": text2image.model}
        except ModelUnavailableError as e:
            reason = str(e)
            log.warning("placeholder keyframe for scene %d: %s", index + 1, reason)
    card = placeholder_image(scene.text, config.width, config.height,
                             color=CARD_COLORS[index % len(CARD_COLORS)])
    return card, {"source": "placeholder", "reason": reason or "no image and no "
                  f"text-to-image model (set ${TEXT2IMAGE_ENV})"}


def fit_duration(frames: np.ndarray, fps: float, duration: float | None) -> np.ndarray:
    """Frames lasting `duration` seconds at `fps`: trimmed when the clip is longer, each frame
    held proportionally longer (slower motion, same content) when it is shorter."""
    if duration is None:
        return frames
    count = max(1, round(duration * fps))
    if count <= len(frames):
        return frames[:count]
    return frames[np.arange(count) * len(frames) // count]


def caption_times(durations: list[float], crossfade: float) -> list[tuple[float, float]]:
    """(start, end) of each scene's caption in the joined video: scenes overlap by the
    crossfade, and a caption changes halfway through each crossfade."""
    starts = [sum(durations[:i]) - i * crossfade for i in range(len(durations))]
    total = starts[-1] + durations[-1]
    cuts = [s + crossfade / 2 for s in starts[1:]]
    return list(zip([0.0, *cuts], [*cuts, total]))


@dataclass
class RenderedScene:
    """One scene's clip, encoded, and what the manifest says of it."""

    path: Path
    duration: float
    fps: float
    record: ClipRecord
    entry: dict[str, Any]


def render_storyboard(
    board: Storyboard,
    config: VideoConfig,
    out: str | Path | None = None,
    *,
    loader: VideoModelLoader | None = None,
    callback: Callback | None = None,
    text2image: TextToImage | None = None,
    allow_fallback: bool = False,
    scenes_on: SceneRenderer | None = None,
) -> GenerationResult:
    """Render `board` with `config` into one MP4 at `out`; returns a GenerationResult.

    Scene settings are applied over `config` (the board's own `settings` are not: merge them
    first with `board.config(...)`). `text2image` defaults to $SVLAB_TEXT2IMAGE. The callback
    gets the service's events with "scene" (1-based) and "scenes" added; an exception it
    raises (e.g. a cancellation) ends the run, and nothing is left behind. `scenes_on` makes
    the scenes' clips elsewhere (`svlab.work.distributed.ray_scenes.RayScenes`: on Ray workers, in
    parallel); keyframes, joining, captions and music stay here, so the video is the same.
    """
    configs = []
    for i, scene in enumerate(board.scenes, 1):
        try:
            configs.append(config.replace(**scene.settings))
        except ConfigError as e:
            raise ConfigError(f"scene {i}: {e}") from None
    out = video_output(out, inputs=[*(s.image for s in board.scenes if s.image is not None),
                                    *([board.music] if board.music is not None else [])])
    text2image = text2image if text2image is not None else TextToImage.from_env()
    tracker = StageTracker(device_of(config), release_heap=False)
    notify = callback or (lambda event: None)
    with Publication(out) as pub, tempfile.TemporaryDirectory(
            prefix=f".{out.stem}.", suffix=".parts", dir=out.parent) as work:
        scenes = _render_scenes(board, configs, Path(work), tracker, notify, loader=loader,
                                text2image=text2image, allow_fallback=allow_fallback,
                                scenes_on=scenes_on)
        video, concat = _compose(board, config, scenes, Path(work), tracker, pub, notify)
        os.replace(video, pub.video)
        frames, fps = read_video(pub.video)
        pub.manifest = _manifest(board, config, scenes, concat, tracker, pub, frames, fps)
    return GenerationResult(frames=frames, video_path=out, manifest=pub.manifest)


@dataclass(frozen=True)
class SceneJob:
    """One scene's clip to make, with everything a worker needs (here or on another machine):
    its place, text, duration and settings, its config, and its keyframe."""

    index: int  # 0-based
    count: int
    text: str
    duration: float | None
    settings: dict[str, Any]
    config: VideoConfig
    keyframe: Image.Image
    made: dict[str, Any]  # how the keyframe was made


SceneRenderer = Callable[..., "list[RenderedScene]"]


def _render_scenes(board: Storyboard, configs: list[VideoConfig], work: Path,
                   tracker: StageTracker, notify: Callback, *, loader, text2image,
                   allow_fallback: bool, scenes_on: SceneRenderer | None = None
                   ) -> list[RenderedScene]:
    """Keyframes for every scene first (then the text-to-image model is freed before the video
    model runs), then one encoded clip per scene: here, one after another, or by `scenes_on`
    (`svlab.work.distributed.ray_scenes.RayScenes`: on Ray workers, in parallel)."""
    n = len(board.scenes)
    jobs = []
    with tracker.stage("keyframes"):
        for i, (scene, scene_config) in enumerate(zip(board.scenes, configs)):
            notify({"stage": "keyframe", "scene": i + 1, "scenes": n})
            image, made = keyframe(scene, scene_config, index=i, text2image=text2image)
            jobs.append(SceneJob(i, n, scene.text, scene.duration, scene.settings,
                                 scene_config, image, made))
    if text2image is not None:
        text2image.unload()
    if scenes_on is not None:
        return scenes_on(jobs, work, tracker, notify, allow_fallback=allow_fallback)
    return [render_scene(job, work, tracker, notify, loader=loader,
                         allow_fallback=allow_fallback) for job in jobs]


def render_scene(job: SceneJob, work: Path, tracker: StageTracker, notify: Callback, *,
                 loader: VideoModelLoader | None = None,
                 allow_fallback: bool = False) -> RenderedScene:
    """One scene's clip: made from its keyframe, interpolated, fitted to its duration and
    encoded to `work/sceneNNN.mp4`."""
    def scene_callback(event):
        notify({**event, "scene": job.index + 1, "scenes": job.count})

    scene_callback({"stage": "clip"})
    clip = generate_clip(job.keyframe, job.config, prompt=job.text, loader=loader,
                         callback=scene_callback, tracker=tracker,
                         allow_fallback=allow_fallback)
    frames, fps = interpolate_frames(clip.frames, job.config, tracker, scene_callback)
    frames = fit_duration(frames, fps, job.duration)
    path = encode_clip(frames, work / f"scene{job.index:03d}.mp4", fps, job.config, tracker,
                       scene_callback)
    duration = len(frames) / fps
    entry = {"scene": job.index + 1, "text": job.text, "keyframe": job.made,
             "settings": job.settings, "frames": len(frames),
             "duration": round(duration, 3), **jsonable(clip.record)}
    if clip.audio is not None:  # not yet carried through the concat and the music mix
        entry["audio"] = "dropped: storyboards do not carry a scene's own sound yet"
        log.warning("scene %d: the model's sound track is dropped (storyboards do not carry "
                    "a scene's own sound yet)", job.index + 1)
    return RenderedScene(path, duration, fps, clip.record, entry)


def _compose(board: Storyboard, config: VideoConfig, scenes: list[RenderedScene], work: Path,
             tracker: StageTracker, pub: Publication,
             notify: Callback) -> tuple[Path, dict | None]:
    """Join the clips, burn the captions in and lay the music under, as the board says; the
    captions' sidecars go to the publication. Returns the finished video and the concat's
    report (None for a single scene). `notify` hears of each step before it starts."""
    p = config.processing
    n = len(scenes)
    notify({"stage": "concat", "scene": n, "scenes": n})
    with tracker.stage("concat"):
        if len(scenes) > 1:
            current = work / "joined.mp4"
            concat = concat_videos([s.path for s in scenes], current,
                                   crossfade=board.crossfade, quality=p.quality)
        else:
            current, concat = scenes[0].path, None
    captions = [Caption(start, end, scene.text) for scene, (start, end) in
                zip(board.scenes, caption_times([s.duration for s in scenes], board.crossfade))]
    if board.subtitles == "burn":
        srt = write_subtitles(captions, work / "captions.mp4")["srt"]
        notify({"stage": "subtitles", "scene": n, "scenes": n})
        with tracker.stage("subtitles"):
            current = burn_subtitles(current, srt, work / "burned.mp4", quality=p.quality,
                                     pixel_format=p.pixel_format)
    if board.music is not None:
        notify({"stage": "music", "scene": n, "scenes": n})
        with tracker.stage("music"):
            current = add_music(current, board.music, work / "music.mp4", volume=board.volume,
                                fade_in=board.fade, fade_out=board.fade)
    if board.subtitles != "off":
        written = write_subtitles(captions, pub.video)  # the sidecars of the hidden video
        for path in written.values():
            pub.sidecar(path.suffix)
    return current, concat


def _manifest(board: Storyboard, config: VideoConfig, scenes: list[RenderedScene],
              concat: dict | None, tracker: StageTracker, pub: Publication,
              frames: np.ndarray, fps: float) -> dict[str, Any]:
    records = [s.record for s in scenes]
    engines = {r.engine for r in records}
    record = ClipRecord(
        engine=engines.pop() if len(engines) == 1 else "mixed",
        model_info=next((r.model_info for r in records if r.model_info), None),
        recovery=[step for r in records for step in r.recovery],
        fallback_reason=next((r.fallback_reason for r in records if r.fallback_reason), None),
    )
    sections = {
        "scenes": [s.entry for s in scenes],
        "storyboard": {"title": board.title, "subtitles": board.subtitles,
                       "music": board.music.name if board.music else None,
                       "volume": board.volume, "fade": board.fade,
                       "crossfade": board.crossfade},
        "captions": {s.lstrip("."): path.name for s, path in pub.sidecars.items()} or None,
        "concat": {"method": concat["method"], "reason": concat["reason"]} if concat else None,
    }
    height, width = frames.shape[1:3]
    return build_manifest(
        config.to_dict(), record, inputs={"storyboard": board.title, "scenes": len(scenes)},
        output=output_facts(pub.out, frames=len(frames), fps=fps, width=width, height=height),
        stages=tracker.table(), sections=sections)
