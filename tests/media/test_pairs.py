"""What a pair of frames shows before any flow: a flat frame next to a picture (a cut or a
fade's step), and a change of brightness that the whole picture shares."""

from __future__ import annotations

import numpy as np
from skimage import data

from svlab.media.pairs import Brightness, flat_pair_kind, global_brightness


def crop(image: np.ndarray, dx: int = 0, size=(240, 320)) -> np.ndarray:
    return image[80:80 + size[0], 40 + dx:40 + dx + size[1]]


def grey(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[..., 1])


def kind(grey0, grey1):
    return flat_pair_kind(grey0, grey1, flat_level=4.0, cut_error=24.0, bright_level=128.0)


def test_black_next_to_a_bright_picture_is_a_cut_next_to_a_dim_one_a_fade():
    picture = grey(crop(data.astronaut()))
    black = np.zeros_like(picture)
    assert kind(black, picture) == "cut"  # a fade would have to be over in two steps
    assert kind(picture, black) == "cut"
    quarter = np.round(picture * 0.25).astype(np.uint8)  # a fade's first step of four
    assert float(quarter.mean()) > 24  # the mean level jumps as far as at a cut
    assert kind(black, quarter) == "fade"
    assert kind(quarter, black) == "fade"
    assert kind(black, np.round(picture * 0.05).astype(np.uint8)) == "fade"  # a small step
    white = np.full_like(picture, 255)
    assert kind(white, picture) == "cut"
    assert kind(white, 255 - np.round((255 - picture) * 0.25).astype(np.uint8)) == "fade"
    assert kind(picture, grey(crop(data.coffee()))) is None  # two pictures: up to the flow


def test_global_brightness_is_found_and_motion_or_cuts_are_not_taken_for_it():
    grey = crop(data.astronaut(), 0)[..., 1]
    brighter = np.clip(grey * 1.3 + 5, 0, 255).astype(np.uint8)
    found = global_brightness(grey, brighter)
    assert found.changed and abs(found.gain - 1.3) < 0.1
    assert np.abs(found.match0(grey).astype(int) - brighter).mean() < 5
    moved = crop(data.astronaut(), 6)[..., 1]
    assert not global_brightness(grey, moved).changed
    assert not global_brightness(grey, crop(data.coffee(), 0)[..., 1]).changed
    # brought to time t, frame 0 and frame 1 meet in between
    change = Brightness(2.0, 10.0)
    level0, level1 = np.full((2, 2), 50, np.uint8), np.full((2, 2), 110, np.uint8)
    assert change.at(level0, 0.5, 0)[0, 0] == change.at(level1, 0.5, 1)[0, 0] == 80
