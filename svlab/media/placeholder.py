"""Placeholder cards: a solid colour with wrapped text, in any script.

Prompts come in Chinese as often as in English (制作一段关于森林探险的短视频), so the card needs
a font with CJK glyphs. `find_font` looks, in order, at:

1. the SVLAB_FONT environment variable (a .ttf/.otf/.ttc file);
2. the `manimgx-fonts-cjk` package (a dependency of svlab): Noto Sans CJK, OFL licensed,
   installed from PyPI with everything else;
3. system fonts: Noto Sans CJK, then DejaVu Sans (no CJK glyphs).

In a .ttc collection the Simplified Chinese face ("SC" in its name) is used when there is one.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw, ImageFont

from svlab.core.errors import InputError

SYSTEM_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
MARGIN = 0.08  # of the card's width and height, kept free of text on each side
MAX_TEXT_CHARS = 5000  # longer text cannot be read on one card anyway
MAX_SIDE = 8192  # pixels; a card is a keyframe or a placeholder, never larger than a frame
LINE_SPACING = 1.25  # line pitch as a multiple of the font size


def find_font() -> Path:
    """The font file placeholder cards use: SVLAB_FONT, else manimgx-fonts-cjk, else system."""
    env = os.environ.get("SVLAB_FONT")
    if env:
        if not Path(env).is_file():
            raise InputError(f"SVLAB_FONT={env!r} is not a font file")
        return Path(env)
    try:
        import manimgx_fonts_cjk

        packaged = Path(manimgx_fonts_cjk.__file__).with_name("NotoSansCJK-VF.otf.ttc")
        if packaged.is_file():
            return packaged
    except ImportError:
        pass
    for candidate in SYSTEM_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise InputError(
        "no font found for placeholder text: install manimgx-fonts-cjk (pip) or set SVLAB_FONT "
        "to a .ttf/.otf/.ttc file"
    )


@functools.lru_cache(maxsize=8)
def _face_index(path: Path) -> int:
    """The Simplified Chinese face of a collection, else its first face."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    index = 0
    while True:
        try:
            family, _ = ImageFont.truetype(str(path), 12, index=index).getname()
        except OSError:
            return 0  # no SC face: the first one
        if family and family.split()[-1] == "SC":
            return index
        index += 1


def load_font(size: int, path: Path | None = None) -> ImageFont.FreeTypeFont:
    """The placeholder font (`path`, else `find_font()`) at `size` pixels."""
    return _load_font(path or find_font(), size)


@functools.lru_cache(maxsize=64)
def _load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """Variable fonts are set to their Medium weight: the default instance of Noto Sans CJK
    VF is Thin, too faint on a card. FreeType's basic layout, not raqm: raqm raised
    `RuntimeError: raqm_layout() failed` on a prompt the task API's property test made, which
    ended the task as an internal error; the basic layout draws any text."""
    font = ImageFont.truetype(str(path), size, index=_face_index(path),
                              layout_engine=ImageFont.Layout.BASIC)
    try:
        names = font.get_variation_names()
    except OSError:  # not a variable font
        return font
    for weight in (b"Medium", b"Regular"):
        if weight in names:
            font.set_variation_by_name(weight.decode())
            break
    return font


def _is_wide(char: str) -> bool:
    """CJK and other wide characters: lines may break between any two of them."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def _tokens(paragraph: str) -> list[str]:
    """Breakable pieces: a Latin word with its trailing spaces, or one wide character."""
    tokens: list[str] = []
    for char in paragraph:
        if _is_wide(char) or not tokens or _is_wide(tokens[-1][-1]) or \
                (tokens[-1][-1] == " " and char != " "):
            tokens.append(char)
        else:
            tokens[-1] += char
    return tokens


def wrap_text(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Greedy line filling: Latin breaks between words, CJK between characters; a word wider
    than a line is broken between characters; newlines in `text` are kept.

    Linear in the text's length: each word (or wide character) is measured once and a line's
    width is the running sum, so a long text costs no more per character than a short one."""
    widths: dict[str, float] = {}

    def width(piece: str) -> float:
        if piece not in widths:
            widths[piece] = font.getlength(piece)
        return widths[piece]

    lines: list[str] = []
    for paragraph in text.split("\n"):
        line, used = "", 0.0
        for token in _tokens(paragraph):
            if used + width(token.rstrip()) <= max_width:
                line, used = line + token, used + width(token)
                continue
            if line.strip():
                lines.append(line.rstrip())
            *full, line = _split_word(token, width, max_width)
            lines.extend(full)
            used = width(line)
        lines.append(line.rstrip())
    return lines


def _split_word(token: str, width, max_width: float) -> list[str]:
    """`token` in pieces that each fit a line (one character at least), measured once per
    character."""
    if width(token.rstrip()) <= max_width:
        return [token]
    pieces, start, used = [], 0, 0.0
    for i, char in enumerate(token):
        if used + width(char) > max_width and i > start:
            pieces.append(token[start:i])
            start, used = i, 0.0
        used += width(char)
    return [*pieces, token[start:]]


def _fits(text: str, size: int, width: int, height: int) -> list[str] | None:
    font = load_font(size)
    box_w, box_h = width * (1 - 2 * MARGIN), height * (1 - 2 * MARGIN)
    lines = wrap_text(text, font, box_w)
    widest = max(font.getlength(line) for line in lines)
    if widest <= box_w and len(lines) * size * LINE_SPACING <= box_h:
        return lines
    return None


def placeholder_image(
    text: str,
    width: int,
    height: int,
    *,
    color: tuple[int, int, int] = (40, 44, 52),
    text_color: tuple[int, int, int] | None = None,
    font_size: int | None = None,
) -> Image.Image:
    """A `width` x `height` RGB card of `color` with `text` wrapped and centred on it.

    font_size=None picks the largest size (at most a fifth of the height) at which the wrapped
    text fits inside an 8% margin. text_color=None is black or white, whichever contrasts more
    with `color`.
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
            raise InputError(f"placeholder {name} must be an integer from 1 to {MAX_SIDE}, "
                             f"got {value!r}")
    color = parse_color(color, "color")
    if text_color is None:
        luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        text_color = (0, 0, 0) if luma > 140 else (255, 255, 255)
    text_color = parse_color(text_color, "text_color")
    if not isinstance(text, str):
        raise InputError(f"placeholder text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"placeholder text has {len(text)} characters; accepted: at most "
                         f"{MAX_TEXT_CHARS}")
    image = Image.new("RGB", (width, height), color)
    text = text.strip()
    if not text:
        return image
    if font_size is not None:
        if isinstance(font_size, bool) or not isinstance(font_size, int) or \
                not 1 <= font_size <= height:
            raise InputError(f"font_size must be an integer from 1 to the card's height "
                             f"({height}), got {font_size!r}")
        size = font_size
        lines = wrap_text(text, load_font(size), width * (1 - 2 * MARGIN))
    else:
        low, high = 1, max(1, height // 5)  # binary search for the largest size that fits
        lines = _fits(text, low, width, height) or wrap_text(text, load_font(1), width)
        while low < high:
            mid = (low + high + 1) // 2
            fitted = _fits(text, mid, width, height)
            if fitted is None:
                high = mid - 1
            else:
                low, lines = mid, fitted
        size = low
    font = load_font(size)
    draw = ImageDraw.Draw(image)
    pitch = size * LINE_SPACING
    top = (height - pitch * len(lines)) / 2 + pitch / 2
    for i, line in enumerate(lines):
        draw.text((width / 2, top + i * pitch), line, font=font, fill=text_color, anchor="mm")
    return image


def parse_color(value, name: str = "color") -> tuple[int, int, int]:
    """(R, G, B) from a sequence of three 0-255 integers or a string: "40,44,52", "#282c34"
    or a CSS colour name."""
    given = value
    if isinstance(value, str):
        if "," in value and not value.strip().startswith(("rgb", "hsl", "hsv")):
            value = value.split(",")
        else:
            try:
                return ImageColor.getrgb(value)[:3]
            except ValueError:
                raise InputError(
                    f"{name} {value!r} is not a colour; give R,G,B, #rrggbb or a CSS name"
                ) from None
    try:
        rgb = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        rgb = ()
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise InputError(f"{name} must be three integers 0-255 (R, G, B), got {given!r}")
    return rgb
