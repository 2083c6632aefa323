"""Label glyphs: a deterministic picture per label set, for data without images.

Each active label is drawn as a coloured shape in a 3 x 3 grid: the shape and colour come from
the label index (8 shapes x golden-ratio hues), the background tint from the whole label set. So
items with the same labels look alike and galleries of synthetic data or feature-only benchmark
files still show something meaningful.
"""

from __future__ import annotations

import colorsys
import math
import zlib

import numpy as np

__all__ = ["glyph_thumbnail"]

_SHAPES = ("circle", "square", "triangle", "diamond", "ring", "cross", "hexagon", "star")
_MAX_SHAPES = 9  # 3 x 3 grid; more labels are shown as "+k"


def _label_colour(j: int) -> tuple[int, int, int]:
    """RGB colour of label j: hues spaced by the golden ratio, alternating lightness."""
    hue = (j * 0.618033988749895) % 1.0
    light = 0.45 if (j // 8) % 2 == 0 else 0.35
    r, g, b = colorsys.hls_to_rgb(hue, light, 0.75)
    return int(r * 255), int(g * 255), int(b * 255)


def _polygon(
    cx: float, cy: float, r: float, k: int, phase: float = -math.pi / 2
) -> list[tuple[float, float]]:
    """Vertices of a regular k-gon of radius r centred at (cx, cy)."""
    return [
        (cx + r * math.cos(phase + 2 * math.pi * i / k), cy + r * math.sin(phase + 2 * math.pi * i / k))
        for i in range(k)
    ]


def _draw_shape(draw, shape: str, cx: float, cy: float, r: float, colour) -> None:
    """Draw one filled shape of radius r centred at (cx, cy) with PIL.ImageDraw."""
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        s = r * 0.85
        draw.rectangle((cx - s, cy - s, cx + s, cy + s), fill=colour)
    elif shape == "triangle":
        draw.polygon(_polygon(cx, cy + r * 0.15, r * 1.05, 3), fill=colour)
    elif shape == "diamond":
        draw.polygon(_polygon(cx, cy, r, 4), fill=colour)
    elif shape == "ring":
        draw.ellipse(box, outline=colour, width=max(2, int(r * 0.35)))
    elif shape == "cross":
        w = r * 0.35
        draw.rectangle((cx - r, cy - w, cx + r, cy + w), fill=colour)
        draw.rectangle((cx - w, cy - r, cx + w, cy + r), fill=colour)
    elif shape == "hexagon":
        draw.polygon(_polygon(cx, cy, r, 6, phase=0.0), fill=colour)
    else:  # star
        pts = []
        for i in range(10):
            rad = r if i % 2 == 0 else r * 0.45
            ang = -math.pi / 2 + math.pi * i / 5
            pts.append((cx + rad * math.cos(ang), cy + rad * math.sin(ang)))
        draw.polygon(pts, fill=colour)


def glyph_thumbnail(label_row, size: int = 96):
    """Draw the glyph of one item's label set.

    Parameters
    ----------
    label_row : array-like of {0, 1}, shape (c,)
        The item's multi-hot label row.
    size : int, default 96
        Width and height in pixels (at least 16).

    Returns
    -------
    PIL.Image.Image
        An RGB ``size x size`` image; identical label rows give identical images. A row without
        labels gives a grey "?" glyph.
    """
    from PIL import Image, ImageDraw, ImageFont

    size = int(size)
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    active = np.flatnonzero(np.asarray(label_row).ravel()).tolist()
    key = zlib.crc32(",".join(map(str, active)).encode())
    hue = (key % 360) / 360.0
    bg = tuple(int(255 * v) for v in colorsys.hls_to_rgb(hue, 0.93, 0.5))
    img = Image.new("RGB", (size, size), bg)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, size - 1, size - 1), outline=(150, 150, 150))
    font = ImageFont.load_default(size=max(8, size // 5))
    if not active:
        draw.text((size / 2, size / 2), "?", fill=(120, 120, 120), anchor="mm", font=font)
        return img

    shown = active[:_MAX_SHAPES] if len(active) <= _MAX_SHAPES else active[: _MAX_SHAPES - 1]
    k = len(shown) + (len(active) > _MAX_SHAPES)
    grid = 1 if k == 1 else 2 if k <= 4 else 3
    cell = size / grid
    r = cell * 0.36
    for slot, j in enumerate(shown):
        cx, cy = cell * (slot % grid + 0.5), cell * (slot // grid + 0.5)
        _draw_shape(draw, _SHAPES[j % len(_SHAPES)], cx, cy, r, _label_colour(j))
    if len(active) > _MAX_SHAPES:
        slot = len(shown)
        cx, cy = cell * (slot % grid + 0.5), cell * (slot // grid + 0.5)
        draw.text((cx, cy), f"+{len(active) - len(shown)}", fill=(60, 60, 60), anchor="mm", font=font)
    return img
