import shutil
import time

import pytest

from svlab.run.settings import load_config
from svlab.core.errors import ConfigError, ModelUnavailableError
from svlab.models import choose_model, resolve_model

XT = "stabilityai/stable-video-diffusion-img2vid-xt"


def test_missing_registry_weights_fail_at_once_naming_every_place(tmp_path):
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as err:
        resolve_model("svd-xt")
    assert time.perf_counter() - start < 1.0
    message = str(err.value)
    assert str(tmp_path / "svlab-models" / "svd-xt") in message
    assert str(tmp_path / "hf-home" / "hub") in message and XT in message
    for remedy in ("local diffusers folder", "SVLAB_MODEL", "HF_HOME", "SVLAB_ALLOW_DOWNLOAD"):
        assert remedy in message


def test_hub_id_not_in_cache_fails_fast():
    start = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="no weights for model 'someone/some-svd'"):
        resolve_model("someone/some-svd")
    assert time.perf_counter() - start < 1.0


def test_tiny_is_built_on_first_use(tmp_path):
    resolved = resolve_model("tiny")
    assert resolved.path == tmp_path / "svlab-models" / "tiny"
    assert (resolved.source, resolved.found_in, resolved.id) == ("registry", "built", "tiny")
    assert resolve_model("tiny").found_in == "SVLAB_MODELS_DIR"


def test_registry_id_from_the_models_dir(tmp_path, tiny_dir):
    shutil.copytree(tiny_dir, tmp_path / "svlab-models" / "svd")
    resolved = resolve_model("svd")
    assert (resolved.source, resolved.found_in) == ("registry", "SVLAB_MODELS_DIR")
    assert resolved.hub_id == "stabilityai/stable-video-diffusion-img2vid"


def test_registry_id_from_the_hugging_face_cache_records_the_revision(tmp_path, tiny_dir):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf-home" / "hub" / f"models--{XT.replace('/', '--')}"
    shutil.copytree(tiny_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for name in ("svd-xt", XT):
        resolved = resolve_model(name)
        assert resolved.path == repo / "snapshots" / commit
        assert (resolved.found_in, resolved.revision, resolved.id) == ("hf-cache", commit, "svd-xt")
    assert resolve_model(XT).source == "hub"


def test_folder(tiny_dir):
    resolved = resolve_model(str(tiny_dir))
    assert (resolved.source, resolved.path, resolved.spec) == ("folder", tiny_dir, None)


@pytest.mark.parametrize("breakage, message", [
    ("missing", "does not exist"),
    ("empty", "no model_index.json"),
    ("no-unet-config", "unet/config.json is missing"),
    ("no-weights", "vae/ has no weights"),
    ("other-pipeline", "holds a StableDiffusionPipeline pipeline"),
])
def test_broken_folders_are_named(tmp_path, tiny_dir, breakage, message):
    folder = tmp_path / "model"
    if breakage == "empty":
        folder.mkdir()
    elif breakage != "missing":
        shutil.copytree(tiny_dir, folder)
        if breakage == "no-unet-config":
            (folder / "unet" / "config.json").unlink()
        elif breakage == "no-weights":
            for f in (folder / "vae").glob("*.safetensors"):
                f.unlink()
        else:
            index = folder / "model_index.json"
            index.write_text(index.read_text().replace("StableVideoDiffusionPipeline",
                                                       "StableDiffusionPipeline"))
    with pytest.raises(ModelUnavailableError, match=message):
        resolve_model(str(folder))


@pytest.mark.parametrize("name", ["svd_xt", "auto", "fallback"])
def test_names_that_are_not_models(name):
    with pytest.raises(ConfigError):
        resolve_model(name)


def test_auto_falls_back_with_the_reason():
    name, reason = choose_model(load_config("standard"))
    assert name == "fallback"
    assert "no weights for model 'svd-xt'" in reason


def test_auto_takes_svlab_model_when_present(monkeypatch, tiny_dir):
    monkeypatch.setenv("SVLAB_MODEL", str(tiny_dir))
    name, reason = choose_model(load_config("standard"))
    assert name == str(tiny_dir) and "found" in reason


def test_a_bad_svlab_model_is_named(monkeypatch):
    monkeypatch.setenv("SVLAB_MODEL", "svd_xt")
    with pytest.raises(ConfigError, match=r"SVLAB_MODEL='svd_xt': unknown model"):
        choose_model(load_config("standard"))


def test_explicit_and_fallback_pass_through():
    assert choose_model(load_config("cpu-tiny"))[0] == "tiny"
    assert choose_model(load_config("standard", overrides={"model": "fallback"}))[0] == "fallback"
