"""Placeholder cards: real glyphs in any script, wrapping, sizing, and the font search."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
from PIL import Image

from svlab.core.errors import InputError
from svlab.media.placeholder import (
    MARGIN, find_font, load_font, parse_color, placeholder_image, wrap_text,
)

PROMPT = "制作一段关于森林探险的短视频"
BACKGROUND = (40, 44, 52)


def ink(text, size=64):
    """Boolean mask of the pixels a one-line card of `text` paints."""
    card = np.asarray(placeholder_image(text, size * 2, size * 2, color=BACKGROUND,
                                        font_size=size))
    return (np.abs(card.astype(int) - BACKGROUND).sum(-1) > 60)


def test_card_size_colour_and_mode():
    card = placeholder_image("hello", 200, 100, color=(10, 200, 30))
    assert isinstance(card, Image.Image) and card.mode == "RGB" and card.size == (200, 100)
    assert card.getpixel((0, 0)) == (10, 200, 30) == card.getpixel((199, 99))


def test_chinese_renders_real_distinct_glyphs():
    tofu = ink("\ue000")  # a private-use code point: no font has it, so it draws .notdef
    masks = {char: ink(char) for char in "制作森林探险"}
    for char, mask in masks.items():
        assert mask.sum() > 200, f"{char} drew almost nothing"
        assert (mask != tofu).mean() > 0.01, f"{char} drew the .notdef box (tofu)"
    for (a, ma), (b, mb) in itertools.combinations(masks.items(), 2):
        assert (ma != mb).mean() > 0.01, f"{a} and {b} drew the same bitmap"
    # strokes, not boxes: 森 (three trees) has more ink than 一 (one stroke)
    assert ink("森").sum() > 3 * ink("一").sum()


def test_text_contrasts_with_the_card():
    dark = np.asarray(placeholder_image("Hi", 120, 80, color=(20, 20, 20)))
    light = np.asarray(placeholder_image("Hi", 120, 80, color=(240, 240, 240)))
    assert dark.max() == 255 and light.min() == 0
    red = np.asarray(placeholder_image("Hi", 240, 160, color="#ffffff", text_color="red"))
    assert ((red == (255, 0, 0)).all(-1)).sum() > 50


def test_auto_size_keeps_the_text_inside_the_margins():
    width, height = 480, 270
    card = np.asarray(placeholder_image(PROMPT + " and a long English tail of words", width,
                                        height, color=BACKGROUND))
    ys, xs = np.nonzero(np.abs(card.astype(int) - BACKGROUND).sum(-1) > 60)
    assert xs.min() >= width * MARGIN - 2 and xs.max() <= width * (1 - MARGIN) + 2
    assert ys.min() >= height * MARGIN - 2 and ys.max() <= height * (1 - MARGIN) + 2
    assert xs.max() - xs.min() > width * 0.6  # and uses the room it has


def test_latin_wraps_between_words_and_cjk_between_characters():
    font = load_font(20)
    latin = "the quick brown fox jumps over the lazy dog"
    lines = wrap_text(latin, font, 120)
    assert len(lines) > 1 and " ".join(lines) == latin
    assert all(font.getlength(line) <= 120 for line in lines)
    lines = wrap_text(PROMPT, font, 100)
    assert len(lines) > 1 and "".join(lines) == PROMPT
    assert all(font.getlength(line) <= 100 for line in lines)
    assert wrap_text("森林 forest", font, 1000) == ["森林 forest"]
    assert wrap_text("one\ntwo", font, 1000) == ["one", "two"]


def test_a_word_longer_than_the_line_is_broken():
    font = load_font(20)
    lines = wrap_text("x" * 60, font, 100)
    assert len(lines) > 1 and "".join(lines) == "x" * 60
    assert all(font.getlength(line) <= 100 for line in lines)


def test_font_comes_from_the_package_by_default(monkeypatch):
    monkeypatch.delenv("SVLAB_FONT", raising=False)
    font = find_font()
    assert font.name == "NotoSansCJK-VF.otf.ttc" and "manimgx_fonts_cjk" in str(font)
    assert load_font(30).getname()[0] == "Noto Sans CJK SC"


def test_svlab_font_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("SVLAB_FONT", raising=False)
    copy = tmp_path / "mine.ttc"
    os.symlink(find_font(), copy)
    monkeypatch.setenv("SVLAB_FONT", str(copy))
    assert find_font() == copy
    monkeypatch.setenv("SVLAB_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(InputError, match="SVLAB_FONT"):
        find_font()


def test_colours():
    assert parse_color("40, 44,52") == (40, 44, 52)
    assert parse_color("#ff0080") == (255, 0, 128)
    assert parse_color("white") == (255, 255, 255)
    assert parse_color([1, 2, 3]) == (1, 2, 3)
    for bad in ("1,2", "300,0,0", "no-such-colour", (1, 2)):
        with pytest.raises(InputError, match="color"):
            parse_color(bad)


@pytest.mark.parametrize("kwargs, words", [
    (dict(width=0), "width must be an integer from 1 to 8192"),
    (dict(height=2.5), "height must be an integer from 1 to 8192"),
    (dict(width=100000, height=100000), "width must be an integer from 1 to 8192"),
    (dict(font_size=100000), r"font_size must be an integer from 1 to the card's height"),
    (dict(text="x" * 5001), "at most 5000"),
    (dict(color="nope"), "not a colour"),
    (dict(font_size=0), "font_size"),
    (dict(text=None), "text must be a string"),
])
def test_bad_arguments(kwargs, words):
    args = dict(text="hi", width=64, height=64) | kwargs
    with pytest.raises(InputError) as err:
        placeholder_image(args.pop("text"), args.pop("width"), args.pop("height"), **args)
    assert words in str(err.value)


def test_empty_text_gives_a_plain_card():
    card = np.asarray(placeholder_image("  ", 32, 16, color=(1, 2, 3)))
    assert (card == (1, 2, 3)).all()


class CountingFont:
    """A font that counts the characters it is asked to measure."""

    def __init__(self, font):
        self.font, self.measured = font, 0

    def getlength(self, text):
        self.measured += len(text)
        return self.font.getlength(text)


@pytest.mark.parametrize("piece", ["森林", "a", "word "])
def test_wrapping_measures_each_character_a_bounded_number_of_times(piece):
    """Linear in the text: a 2000-character prompt once took a minute to draw."""
    text = piece * (2000 // len(piece))
    font = CountingFont(load_font(20))
    lines = wrap_text(text, font, 300)
    assert font.measured <= 3 * len(text)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(font.font.getlength(line) <= 300 for line in lines if len(line) > 1)
