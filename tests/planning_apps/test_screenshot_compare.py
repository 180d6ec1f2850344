"""The screenshot comparison of test_visual_regression.py on drawn tables (no browser):
antialiasing, noise and a table moved by a pixel or two pass; a missing column, a missing button or another
page height fail; the reference keeps no visible loss in its palette."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from screenshots import compare, diff_image, reduce, save_reference

COLUMNS = ["Nr.", "Stadtteil", "Kinder", "Plätze", "Quote", "Bedarf", "Saldo", "Status"]


def page(columns=COLUMNS, *, button: bool = True, height: int = 900, shift: tuple[int, int] = (0, 0)) -> Image.Image:
    """A full-size 'screenshot': a heading, a table of 14 rows, a button."""
    image = Image.new("RGB", (1366, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=14)
    draw.rectangle((0, 0, 1366, 48), fill=(0, 59, 111))
    draw.text((24, 14), "Kita-Versorgung nach Stadtteilen", fill="white", font=font)
    x0, y0, width = 60 + shift[0], 120 + shift[1], 150
    for c, name in enumerate(columns):
        draw.text((x0 + c * width, y0), name, fill=(26, 26, 26), font=font)
        for row in range(14):
            value = "Gesamtstadt" if name == "Stadtteil" and row == 13 else f"{(row + 3) * (c + 7) * 37 % 9973:,}".replace(",", ".")
            draw.text((x0 + c * width, y0 + 28 * (row + 1)), value, fill=(26, 26, 26), font=font)
    if button:
        draw.rectangle((60, 560, 300, 590), outline=(0, 59, 111), width=2)
        draw.text((72, 566), "Diagramm als PNG speichern", fill=(0, 59, 111), font=font)
    return image


def test_antialiasing_noise_and_small_shifts_pass():
    reference = reduce(page())
    blurred = reduce(page().filter(ImageFilter.GaussianBlur(0.8)))  # another font renderer's antialiasing
    pixels = np.asarray(page(), dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels + np.random.default_rng(1).integers(-30, 31, pixels.shape), 0, 255)
                            .astype(np.uint8))
    for image in (blurred, reduce(noisy), reduce(page(shift=(2, 1)))):
        result = compare(image, reference)
        assert result.ok, result.summary()


def test_missing_column_button_or_other_height_fail(tmp_path):
    reference = reduce(page())
    for changed in (page([c for c in COLUMNS if c != "Bedarf"]), page(COLUMNS[:-1]), page(button=False),
                    page(height=940)):
        result = compare(reduce(changed), reference)
        assert not result.ok, result.summary()
    diff = diff_image(reference, compare(reduce(page(COLUMNS[:-1])), reference))
    assert (np.asarray(diff) == (220, 0, 0)).all(axis=2).any()  # the differences are drawn red


def test_reference_palette_loses_nothing(tmp_path):
    shot = reduce(page())
    save_reference(shot, tmp_path / "ref.png")
    stored = Image.open(tmp_path / "ref.png")
    assert stored.mode == "P" and compare(shot, stored).share == 0
