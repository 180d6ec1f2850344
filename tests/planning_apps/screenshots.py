"""Comparing app screenshots with committed references (test_visual_regression.py).

Screenshots are compared at half their size (``SCALE``): the references stay small, and
averaging 2 × 2 pixels already evens out most of the font antialiasing. A pixel differs when
no pixel of the other image within ``SHIFT`` of its position matches it within ``THRESHOLD``
(per colour channel, 0–255), seen from either image: glyph edges that antialias differently or
move by a pixel do not count, a column, a row or a chart that is missing or moved does. A
screenshot fails when more than ``MAX_SHARE`` of its pixels differ, or more than
``MAX_TILE_SHARE`` of one ``TILE`` × ``TILE`` tile (one missing column of a table is a small
share of the page but much of some tiles). Different sizes count as differing pixels.

Calibrated on the bundled apps: a screenshot taken twice differs in no pixel; blurring a
reference (Gaussian, 0.6 px at half size, stronger than antialiasing differs between font
renderers) leaves at most 0.005 % differing pixels; one narrow table column hidden by CSS
(„Rang“, „Plätze“) makes 0.38–0.52 %.

Refresh the references after an intended change of the layout:
``BIF_UPDATE_REFERENCES=1 .venv/bin/python -m pytest tests/planning_apps/test_visual_regression.py``
(see docs/apps.md, *Layout and screenshots*).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SCALE = 2
THRESHOLD = 80
SHIFT = 1
MAX_SHARE = 0.001
TILE = 32
MAX_TILE_SHARE = 0.25
PADDING = (255, 0, 255)  # where one image is larger than the other


def reduce(png: bytes | Image.Image) -> Image.Image:
    """A screenshot at the references' scale, RGB."""
    image = png if isinstance(png, Image.Image) else Image.open(io.BytesIO(png))
    image = image.convert("RGB")
    return image.reduce(SCALE) if SCALE > 1 else image


def save_reference(image: Image.Image, path: Path) -> None:
    """A reference as PNG with a palette of 256 colours: about 40 KB, and no pixel of it
    differs from the screenshot by the measure of :func:`compare`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette.save(path, format="PNG", optimize=True)


@dataclass
class Comparison:
    share: float  # of all pixels that differ
    worst_tile: float  # share of the worst tile
    mask: np.ndarray  # True where the images differ
    size: tuple[int, int]
    reference_size: tuple[int, int]

    @property
    def ok(self) -> bool:
        return self.share <= MAX_SHARE and self.worst_tile <= MAX_TILE_SHARE

    def summary(self) -> str:
        return (f"{self.share:.3%} of the pixels differ (at most {MAX_SHARE:.2%}), worst {TILE}×{TILE} tile "
                f"{self.worst_tile:.1%} (at most {MAX_TILE_SHARE:.0%}); size {self.size}, "
                f"reference {self.reference_size}")


def _padded(a: np.ndarray, height: int, width: int) -> np.ndarray:
    out = np.empty((height, width, 3), dtype=np.int16)
    out[:] = PADDING
    out[:a.shape[0], :a.shape[1]] = a
    return out


def _unmatched(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """True where no pixel of ``b`` within SHIFT of the position matches ``a`` within THRESHOLD."""
    height, width = a.shape[:2]
    big = np.full((height + 2 * SHIFT, width + 2 * SHIFT, 3), -1000, dtype=np.int16)
    big[SHIFT:SHIFT + height, SHIFT:SHIFT + width] = b
    best = np.full((height, width), 10_000, dtype=np.int16)
    for dy in range(2 * SHIFT + 1):
        for dx in range(2 * SHIFT + 1):
            shifted = big[dy:dy + height, dx:dx + width]
            np.minimum(best, np.abs(a - shifted).max(axis=2), out=best)
    return best > THRESHOLD


def compare(actual: Image.Image, reference: Image.Image) -> Comparison:
    height = max(actual.height, reference.height)
    width = max(actual.width, reference.width)
    a = _padded(np.asarray(actual.convert("RGB"), dtype=np.int16), height, width)
    r = _padded(np.asarray(reference.convert("RGB"), dtype=np.int16), height, width)
    mask = _unmatched(a, r) | _unmatched(r, a)
    tiles_y, tiles_x = -(-height // TILE), -(-width // TILE)
    padded = np.zeros((tiles_y * TILE, tiles_x * TILE), dtype=bool)
    padded[:height, :width] = mask
    per_tile = padded.reshape(tiles_y, TILE, tiles_x, TILE).mean(axis=(1, 3))
    return Comparison(share=float(mask.mean()), worst_tile=float(per_tile.max()), mask=mask,
                      size=actual.size, reference_size=reference.size)


def diff_image(reference: Image.Image, comparison: Comparison) -> Image.Image:
    """The reference pale, differing pixels red: where to look."""
    height, width = comparison.mask.shape
    base = Image.new("RGB", (width, height), PADDING)
    base.paste(reference.convert("RGB"), (0, 0))
    pale = (np.asarray(base, dtype=np.float32) * 0.3 + 255 * 0.7).astype(np.uint8)
    pale[comparison.mask] = (220, 0, 0)
    return Image.fromarray(pale)
