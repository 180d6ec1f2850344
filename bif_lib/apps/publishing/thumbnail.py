"""Gallery thumbnails: the executed notebook's first image, or a neutral placeholder.

Images are looked for in the cell outputs (in cell order) and then in the widget state
the headless run stored (apps often draw charts into widgets: an ``Image`` widget, or an
``HTML`` widget with a ``data:image/png`` picture). Small images (icons, logos) are
skipped when a chart-sized one exists.
"""

from __future__ import annotations

import base64
import io
import re

from PIL import Image, ImageDraw

SIZE = (640, 360)  # 16:9, shown at 320x180 in the gallery (sharp on HiDPI screens)
BACKGROUND = (255, 255, 255)
MIN_SIZE = (200, 100)  # smaller pictures are icons, not what the app shows
_IMAGE_TYPES = ("image/png", "image/jpeg")
_DATA_URI = re.compile(r"data:image/(?:png|jpeg);base64,([A-Za-z0-9+/=]+)")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _decode(value) -> bytes | None:
    if isinstance(value, list):
        value = "".join(value)
    try:
        return base64.b64decode(value)
    except (ValueError, TypeError):
        return None


def _output_images(notebook: dict):
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            for mime in _IMAGE_TYPES:
                if mime in data:
                    yield _decode(data[mime])


def _widget_images(notebook: dict):
    state = ((notebook.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE, {}).get("state", {})
    for model in state.values():
        if not isinstance(model, dict):
            continue
        if model.get("model_name") == "ImageModel":
            for buffer in model.get("buffers") or []:
                if buffer.get("path") == ["value"] and buffer.get("encoding") == "base64":
                    yield _decode(buffer.get("data"))
        value = (model.get("state") or {}).get("value")
        if isinstance(value, str) and "data:image/" in value:
            for match in _DATA_URI.finditer(value):
                yield _decode(match.group(1))


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size
    except (OSError, ValueError):
        return None


def first_image(notebook: dict) -> bytes | None:
    """The first chart-sized PNG/JPEG (outputs first, then widgets); else the first image."""
    fallback = None
    for data in (*_output_images(notebook), *_widget_images(notebook)):
        if not data:
            continue
        size = _size(data)
        if size is None:
            fallback = fallback or data
            continue
        if size[0] >= MIN_SIZE[0] and size[1] >= MIN_SIZE[1]:
            return data
        fallback = fallback or data
    return fallback


def make_thumbnail(image: bytes, size: tuple[int, int] = SIZE) -> bytes:
    """Fit ``image`` into ``size`` (keeping its proportions) on a white canvas, as PNG."""
    with Image.open(io.BytesIO(image)) as src:
        src = src.convert("RGBA")
        src.thumbnail(size, Image.LANCZOS)
        canvas = Image.new("RGB", size, BACKGROUND)
        offset = ((size[0] - src.width) // 2, (size[1] - src.height) // 2)
        canvas.paste(src, offset, src)
    return _png(canvas)


def placeholder(size: tuple[int, int] = SIZE) -> bytes:
    """A calm, neutral picture (a stylised bar chart) for apps without an image output."""
    w, h = size
    img = Image.new("RGB", size, (236, 241, 246))
    draw = ImageDraw.Draw(img)
    base = int(h * 0.78)
    bar_w = int(w * 0.07)
    heights = (0.28, 0.46, 0.36, 0.58, 0.44)
    left = int(w * 0.5 - (len(heights) * bar_w * 1.6) / 2)
    for i, frac in enumerate(heights):
        x = left + int(i * bar_w * 1.6)
        draw.rounded_rectangle((x, base - int(h * frac), x + bar_w, base), radius=4, fill=(160, 178, 198))
    draw.line((int(w * 0.2), base + 2, int(w * 0.8), base + 2), fill=(120, 138, 160), width=3)
    return _png(img)


def thumbnail_for(executed_notebook: dict) -> tuple[bytes, bool]:
    """(PNG bytes, True if taken from the notebook) — falls back to the placeholder."""
    image = first_image(executed_notebook)
    if image is not None:
        try:
            return make_thumbnail(image), True
        except (OSError, ValueError):  # corrupt image output: not worth refusing the app
            pass
    return placeholder(), False


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
