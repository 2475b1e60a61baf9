"""Storyboards: prompt splitting, parsing and validation, and real renders with the fallback
engine (placeholder keyframes, ffmpeg concat, captions, music)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from svlab.run.settings import load_config
from svlab.core.errors import ConfigError, InputError
from svlab.media import probe, read_video
from svlab.media.ffmpeg import run_ffmpeg
from svlab.render.storyboards import (
    Scene, Storyboard, caption_times, fit_duration, keyframe, load_storyboard,
    render_storyboard, split_prompt, storyboard_from_dict, storyboard_from_prompt,
)

FAST = dict(model="fallback", width=64, height=64, num_frames=6, fps=6)


@pytest.fixture
def config():
    return load_config("cpu-tiny", overrides=FAST)


# -- prompts -----------------------------------------------------------------------------

@pytest.mark.parametrize("prompt, scenes", [
    ("制作一段关于森林探险的短视频", ["制作一段关于森林探险的短视频"]),
    ("清晨的森林。阳光穿过树叶！一只鹿在喝水？", ["清晨的森林。", "阳光穿过树叶！", "一只鹿在喝水？"]),
    ("狐狸醒来，跳过木头、然后睡着了。",
     ["狐狸醒来，跳过木头、然后睡着了。", "狐狸醒来", "跳过木头", "然后睡着了。"]),
    ("第一幕；第二幕", ["第一幕；", "第二幕"]),
    ("A fox runs, jumps, and sleeps.", ["A fox runs, jumps, and sleeps.", "A fox runs", "jumps",
                                        "and sleeps."]),
    ("It costs 3.5 coins. Then 1,000 more at 10:30!?", ["It costs 3.5 coins.",
                                                        "Then 1,000 more at 10:30!?"]),
    ("  one scene  ", ["one scene"]),
])
def test_split_prompt(prompt, scenes):
    assert split_prompt(prompt) == scenes


def test_split_prompt_rejects_blank():
    with pytest.raises(InputError, match="non-empty"):
        split_prompt(" \n")


@pytest.mark.parametrize("prompt", ["。", "...", "!?", "x" * 2001])
def test_split_prompt_refuses_what_is_not_a_prompt(prompt):
    with pytest.raises(InputError, match="only punctuation|at most 2000"):
        split_prompt(prompt)


def test_storyboard_from_prompt():
    board = storyboard_from_prompt("制作一段关于森林探险的短视频")
    assert board.title == "制作一段关于森林探险的短视频"
    assert board.scenes == (Scene(text="制作一段关于森林探险的短视频"),)
    assert board.subtitles == "on" and board.music is None


# -- storyboard files --------------------------------------------------------------------

def _png(path, color=(200, 30, 30), size=(96, 80)):
    Image.new("RGB", size, color).save(path)
    return path


def test_load_yaml_storyboard(tmp_path):
    (tmp_path / "img").mkdir()
    _png(tmp_path / "img" / "red.png")
    (tmp_path / "board.yaml").write_text(
        "title: 森林探险\n"
        "subtitles: off\n"  # YAML's bare off is a boolean
        "crossfade: 0.25\n"
        "settings: {profile: cpu-tiny, num_frames: 6}\n"
        "scenes:\n"
        "  - 只有文字的场景\n"
        "  - text: 红色的开场\n"
        "    image: img/red.png\n"
        "    duration: 2\n"
        "    settings: {seed: 7, interpolation: blend}\n",
        encoding="utf-8")
    board = load_storyboard(tmp_path / "board.yaml")
    assert board.title == "森林探险" and board.subtitles == "off" and board.crossfade == 0.25
    assert board.scenes[0] == Scene(text="只有文字的场景")
    assert board.scenes[1].image == (tmp_path / "img" / "red.png").resolve()
    assert board.scenes[1].duration == 2.0
    assert board.scenes[1].settings == {"seed": 7, "interpolation": "blend"}
    config = board.config(None, {"seed": 3})
    assert (config.model, config.num_frames, config.seed) == ("tiny", 6, 3)
    assert board.config("standard").num_frames == 6 and board.config("standard").height == 576


def test_json_storyboard(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps({"scenes": [{"text": "a"}], "volume": 0.5}))
    board = load_storyboard(tmp_path / "b.json")
    assert board.title == "a" and board.volume == 0.5


@pytest.mark.parametrize("data, error, match", [
    ({}, InputError, "'scenes' must be a non-empty list"),
    ({"scenes": []}, InputError, "non-empty list"),
    ({"scenes": ["a"], "sublitles": "on"}, InputError, "did you mean 'subtitles'"),
    ({"scenes": [{"txt": "a"}]}, InputError, r"scene 1: unknown key 'txt' \(did you mean 'text'"),
    ({"scenes": [{"text": " "}]}, InputError, "scene 1: 'text' must be a non-empty string"),
    ({"scenes": ["a", {"text": "b", "duration": -1}]}, InputError,
     r"scene 2: duration=-1 is out of range"),
    ({"scenes": [{"text": "a", "duration": "long"}]}, InputError, "must be a number"),
    ({"scenes": [{"text": "a", "settings": {"height": 64}}]}, InputError,
     "setting 'height' cannot be set here .film-wide settings go in the storyboard's top-level"),
    ({"scenes": [{"text": "a", "settings": {"seed": -2}}]}, ConfigError,
     "scene 1: seed=-2 is out of range"),
    ({"scenes": ["a"], "settings": {"num_frame": 3}}, ConfigError, "did you mean 'num_frames'"),
    ({"scenes": ["a"], "subtitles": "loud"}, InputError, "accepted: off, on, burn"),
    ({"scenes": ["a"], "volume": 11}, InputError, "volume=11 is out of range"),
    ({"scenes": [{"text": "a", "image": "missing.png"}]}, InputError,
     "scene 1: image 'missing.png' does not exist"),
    ({"scenes": ["a"], "music": "song.mp3"}, InputError, "music 'song.mp3' does not exist"),
    ([1, 2], InputError, "must be a mapping"),
    ({"scenes": ["a"] * 101}, InputError, "101 scenes; accepted: at most 100"),
])
def test_invalid_storyboards(tmp_path, data, error, match):
    with pytest.raises(error, match=match):
        storyboard_from_dict(data, base_dir=tmp_path)


def test_paths_confined_to_root(tmp_path):
    root = tmp_path / "inputs"
    root.mkdir()
    _png(tmp_path / "secret.png")
    _png(root / "ok.png")
    ok = storyboard_from_dict({"scenes": [{"text": "a", "image": "ok.png"}]}, base_dir=root,
                              root=root)
    assert ok.scenes[0].image == (root / "ok.png").resolve()
    for path in ("../secret.png", str(tmp_path / "secret.png")):
        with pytest.raises(InputError, match="outside the folder"):
            storyboard_from_dict({"scenes": [{"text": "a", "image": path}]}, base_dir=root,
                                 root=root)
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    with pytest.raises(InputError, match="outside the folder"):
        storyboard_from_dict({"scenes": [{"text": "a", "image": "link.png"}]}, base_dir=root,
                             root=root)


# -- pieces of rendering -----------------------------------------------------------------

def test_fit_duration():
    frames = np.arange(6)[:, None, None, None].repeat(2, 1).astype(np.uint8)
    assert fit_duration(frames, 6, None) is frames
    assert fit_duration(frames, 6, 0.5)[:, 0, 0, 0].tolist() == [0, 1, 2]  # trimmed
    held = fit_duration(frames, 6, 2.0)[:, 0, 0, 0].tolist()  # each frame held twice
    assert held == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_caption_times():
    assert caption_times([1.0, 2.0, 1.5], 0.0) == [(0.0, 1.0), (1.0, 3.0), (3.0, 4.5)]
    # 0.5 s crossfades: scenes start at 0, 0.5, 2.0; captions change mid-fade.
    assert caption_times([1.0, 2.0, 1.5], 0.5) == [(0.0, 0.75), (0.75, 2.25), (2.25, 3.5)]


def test_keyframe_sources(tmp_path, config):
    image, made = keyframe(Scene("x", image=_png(tmp_path / "a.png")), config)
    assert made["source"] == "image" and image.size == (64, 64)
    assert np.asarray(image)[32, 32].tolist() == [200, 30, 30]
    card, made = keyframe(Scene("森林"), config, index=1)
    assert made["source"] == "placeholder" and card.size == (64, 64)

    class Broken:
        model = "nowhere"

        def __call__(self, *args):
            from svlab.core.errors import ModelUnavailableError
            raise ModelUnavailableError("text-to-image model 'nowhere' cannot be loaded")

    _, made = keyframe(Scene("森林"), config, text2image=Broken())
    assert made == {"source": "placeholder",
                    "reason": "text-to-image model 'nowhere' cannot be loaded"}


# -- whole renders -----------------------------------------------------------------------

def _audio_seconds(path):
    proc = run_ffmpeg(["-i", path, "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", "8000",
                       "-"])
    return len(proc.stdout) / 2 / 8000


def test_render_storyboard_everything(tmp_path, config):
    _png(tmp_path / "red.png")
    run_ffmpeg(["-y", "-f", "lavfi", "-i", "sine=frequency=330", "-t", "0.8",
                tmp_path / "music.wav"])
    board = storyboard_from_dict({
        "title": "测试",
        "subtitles": "burn",
        "music": "music.wav",
        "volume": 0.8,
        "fade": 0.3,
        "crossfade": 0.4,
        "scenes": [
            {"text": "红色", "image": "red.png", "duration": 1.5},
            {"text": "森林探险", "settings": {"seed": 5}},
        ],
    }, base_dir=tmp_path)
    events = []
    result = render_storyboard(board, config, tmp_path / "film.mp4", callback=events.append)
    # 1.5 s + 1.0 s (6 frames at 6 fps) - 0.4 s crossfade
    info = probe(result.video_path)
    assert info["duration"] == pytest.approx(2.1, abs=0.1)
    assert info["has_audio"] and info["audio_codec"] == "aac"
    assert _audio_seconds(result.video_path) == pytest.approx(2.1, abs=0.1)
    assert result.frames.shape == (info["frames"], 64, 64, 3)
    assert result.frames[2, 5:20, 5:60].mean(axis=(0, 1))[0] > 150  # the red keyframe
    assert (tmp_path / "film.srt").read_text(encoding="utf-8").startswith(
        "1\n00:00:00,000 --> 00:00:01,300\n红色\n")
    assert "00:00:01.300 --> 00:00:02.100\n森林探险" in (tmp_path / "film.vtt").read_text(
        encoding="utf-8")
    manifest = json.loads((tmp_path / "film.json").read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert [s["keyframe"]["source"] for s in manifest["scenes"]] == ["image", "placeholder"]
    assert [s["frames"] for s in manifest["scenes"]] == [9, 6]
    assert manifest["engine"] == "fallback" and manifest["storyboard"]["crossfade"] == 0.4
    assert manifest["captions"] == {"vtt": "film.vtt", "srt": "film.srt"}
    assert {e["scenes"] for e in events} == {2}
    stages = list(dict.fromkeys(e["stage"] for e in events))
    assert stages[-3:] == ["concat", "subtitles", "music"]  # each composing step is heard of
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "film.json", "film.mp4", "film.srt", "film.vtt", "music.wav", "red.png"]


def test_single_scene_no_captions(tmp_path, config):
    board = Storyboard(title="t", scenes=(Scene("一"),), subtitles="off")
    result = render_storyboard(board, config, tmp_path / "one.mp4")
    assert result.frames.shape == (6, 64, 64, 3) and result.manifest["captions"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.json", "one.mp4"]


def test_interrupted_render_leaves_nothing(tmp_path, config):
    board = storyboard_from_prompt("一。二。三。")

    def stop(event):
        if event.get("stage") == "clip" and event["scene"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_storyboard(board, config, tmp_path / "x.mp4", callback=stop)
    assert list(tmp_path.iterdir()) == []


def test_bad_crossfade_fails_before_output(tmp_path, config):
    board = Storyboard(title="t", scenes=(Scene("a"), Scene("b")), crossfade=5.0)
    with pytest.raises(InputError, match="crossfade"):
        render_storyboard(board, config, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_generate_prompt_uses_the_storyboard(tmp_path):
    from svlab.render.service import generate

    result = generate(prompt="雨。晴。", config="cpu-tiny", out=tmp_path / "g.mp4", **FAST)
    assert [s["text"] for s in result.manifest["scenes"]] == ["雨。", "晴。"]
    assert read_video(result.video_path)[0].shape == (12, 64, 64, 3)
    assert (tmp_path / "g.srt").is_file()


# -- text-to-image keyframes -------------------------------------------------------------

@pytest.fixture(scope="module")
def text2image_dir(tmp_path_factory):
    """A tiny random-weight Stable Diffusion saved in the diffusers layout, like diffusers'
    own pipeline tests build it; the CLIP tokenizer is byte-level with no merges, so any text
    (Chinese too) tokenizes without vocabulary files from the hub."""
    import torch
    from diffusers import (
        AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel,
    )
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                        down_block_types=["DownEncoderBlock2D"] * 2,
                        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        pad_token_id=vocab["<|endoftext|>"], vocab_size=len(vocab)))
    pipe = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder,
        tokenizer=CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77),
        scheduler=EulerDiscreteScheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False)
    path = tmp_path_factory.mktemp("t2i") / "tiny-sd"
    pipe.save_pretrained(path)
    return path


@pytest.mark.slow
def test_text_to_image_keyframes(tmp_path, config, text2image_dir, monkeypatch):
    from svlab.models import TextToImage

    model = TextToImage(text2image_dir, steps=2, device="cpu")
    forest, _ = keyframe(Scene("森林"), config, text2image=model)
    again, made = keyframe(Scene("森林"), config, text2image=model)
    sea, _ = keyframe(Scene("大海"), config, text2image=model)
    assert made == {"source": "text-to-image", "model": str(text2image_dir)}
    assert forest.size == (64, 64)
    assert np.array_equal(np.asarray(forest), np.asarray(again))  # seeded
    assert not np.array_equal(np.asarray(forest), np.asarray(sea))  # the text matters
    # Configured by the environment variable, used by a whole render.
    monkeypatch.setenv("SVLAB_TEXT2IMAGE", str(text2image_dir))
    board = Storyboard(title="t", scenes=(Scene("森林"),), subtitles="off")
    result = render_storyboard(board, config, tmp_path / "t2i.mp4")
    assert result.manifest["scenes"][0]["keyframe"]["source"] == "text-to-image"
