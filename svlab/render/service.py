"""The generation service: an image (or a prompt) in, a video and its manifest out.

    svlab.generate(image="photo.jpg", config="cpu-tiny", seed=3, out="clip.mp4")

With an image, one clip: the model through the recovery ladder (or the fallback engine, see
`svlab.run.clip`), interpolated, encoded, and published with its manifest. With only a prompt,
the prompt becomes a storyboard of scenes and takes the storyboard's road
(`svlab.render.storyboards.renderer`). A run never ends without a video unless its input was invalid or
its explicitly named model cannot run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from svlab.core.config import VideoConfig
from svlab.core.errors import InputError
from svlab.core.manifest import audio_facts, build_manifest, output_facts
from svlab.memory import StageTracker
from svlab.models import VideoModelLoader
from svlab.media.outputs import Publication, video_output
from svlab.media.images import fit_image, read_image
from svlab.media.video_io import fit_audio
from svlab.core.records import Clip, GenerationResult
from svlab.run.clip import device_of, encode_clip, generate_clip, interpolate_frames
from svlab.run.settings import load_config
from svlab.run.stages import Callback
from svlab.render.storyboards import render_storyboard, storyboard_from_prompt
from svlab.render.storyboards.renderer import SceneRenderer
from svlab.core.text_caps import check_prompt


def generate(
    image: Any = None,
    prompt: str | None = None,
    config: VideoConfig | str | dict | None = None,
    out: str | Path | None = None,
    *,
    callback: Callback | None = None,
    loader: VideoModelLoader | None = None,
    allow_fallback: bool = False,
    image_name: str | None = None,
    scenes_on: SceneRenderer | None = None,
    **overrides: Any,
) -> GenerationResult:
    """Generate a video from a conditioning image, or from a prompt (as a storyboard).

    `config` is a VideoConfig, a profile name (`auto` fits the GPU) or a dict of settings;
    `overrides` are setting names (`num_frames=14`, `seed=3`, ...). `prompt` with an image goes
    to the models that take text. `loader` reuses an already loaded model. `allow_fallback`
    lets an explicitly named model that cannot load be answered by the fallback engine.
    `image_name` labels an in-memory image in the manifest (an upload's file name).
    `callback` receives progress events; an exception it raises stops the run, leaving
    nothing behind. `scenes_on` makes a prompt's scenes elsewhere (`svlab.work.distributed.ray_scenes
    .RayScenes`: on Ray workers, in parallel).
    """
    check_prompt(prompt)
    config = load_config(config, overrides)
    if image is None:
        if not prompt or not prompt.strip():
            raise InputError("nothing to generate from: give an image (path, PIL image or "
                             "array) or a non-empty prompt")
        return render_storyboard(storyboard_from_prompt(prompt), config, out, loader=loader,
                                 callback=callback, allow_fallback=allow_fallback,
                                 scenes_on=scenes_on)
    source, described = read_image(image, name=image_name)
    keyframe = fit_image(source, config.width, config.height)
    sources = [image] if isinstance(image, (str, Path)) else []
    out = video_output(out, inputs=sources)  # only once the inputs proved good
    tracker = StageTracker(device_of(config), release_heap=False)
    clip = generate_clip(keyframe, config, prompt=prompt, loader=loader, callback=callback,
                         tracker=tracker, allow_fallback=allow_fallback)
    return finish(clip, config, out, tracker=tracker, callback=callback,
                  inputs={"image": described, "prompt": prompt})


def finish(clip: Clip, config: VideoConfig, out: Path, *, tracker: StageTracker,
           inputs: dict[str, Any], callback: Callback | None = None) -> GenerationResult:
    """Interpolate, encode, and publish the video with its manifest."""
    frames, fps = interpolate_frames(clip.frames, config, tracker, callback)
    audio = fit_audio(clip.audio, len(frames), fps) if clip.audio is not None else None
    with Publication(out) as pub:
        encode_clip(frames, pub.video, fps, config, tracker, callback, audio=audio)
        height, width = frames.shape[1:3]
        pub.manifest = build_manifest(
            config.to_dict(), clip.record, inputs=inputs, stages=tracker.table(),
            output=output_facts(out, frames=len(frames), fps=fps, width=width, height=height,
                                audio=audio_facts(clip.audio, audio)))
    return GenerationResult(frames=frames, video_path=out, manifest=pub.manifest)
