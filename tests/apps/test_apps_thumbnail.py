"""Gallery thumbnails from the first image output, or the placeholder."""

from __future__ import annotations

import base64
import io

from PIL import Image

from bif_lib.apps.publishing.thumbnail import SIZE, first_image, make_thumbnail, placeholder, thumbnail_for


def png(color, size=(200, 100)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def nb_with_outputs(*outputs) -> dict:
    return {"cells": [
        {"cell_type": "markdown", "source": "x", "metadata": {}},
        {"cell_type": "code", "source": "", "metadata": {}, "outputs": list(outputs)},
    ]}


def image_output(data: bytes, mime="image/png") -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {mime: base64.b64encode(data).decode(), "text/plain": "<Figure>"}}


def test_first_image_in_cell_order():
    red, blue = png("red", size=(300, 150)), png("blue", size=(300, 150))
    nb = nb_with_outputs({"output_type": "stream", "name": "stdout", "text": "hi"},
                         image_output(red), image_output(blue))
    assert first_image(nb) == red


def test_icons_give_way_to_charts():
    icon, chart = png("gray", size=(32, 32)), png("blue", size=(600, 300))
    assert first_image(nb_with_outputs(image_output(icon), image_output(chart))) == chart
    assert first_image(nb_with_outputs(image_output(icon))) == icon  # better than nothing


def test_images_inside_widgets():
    chart = png("red", size=(400, 200))
    b64 = base64.b64encode(chart).decode()
    nb = nb_with_outputs()
    nb["metadata"] = {"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {
        "a": {"model_name": "HTMLModel", "state": {"value": f'<div><img src="data:image/png;base64,{b64}"></div>'}},
    }}}}
    assert first_image(nb) == chart
    nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"] = {
        "b": {"model_name": "ImageModel", "state": {"format": "png"},
              "buffers": [{"path": ["value"], "encoding": "base64", "data": b64}]}}
    assert first_image(nb) == chart


def test_no_image_gives_none():
    assert first_image(nb_with_outputs({"output_type": "stream", "name": "stdout", "text": "hi"})) is None


def test_thumbnail_keeps_proportions_on_white_canvas():
    thumb = Image.open(io.BytesIO(make_thumbnail(png((200, 0, 0), size=(400, 400)))))
    assert thumb.size == SIZE and thumb.format == "PNG"
    # square image in a 16:9 frame: white bars left and right, image in the middle
    assert thumb.getpixel((5, SIZE[1] // 2)) == (255, 255, 255)
    assert thumb.getpixel((SIZE[0] // 2, SIZE[1] // 2)) == (200, 0, 0)


def test_thumbnail_for_uses_placeholder_without_image():
    data, from_notebook = thumbnail_for(nb_with_outputs())
    assert not from_notebook and data == placeholder()
    data, from_notebook = thumbnail_for(nb_with_outputs(image_output(png("green"), "image/jpeg")))
    # the declared type does not matter: Pillow reads the image by its content
    assert from_notebook


def test_corrupt_image_falls_back_to_placeholder():
    data, from_notebook = thumbnail_for(nb_with_outputs(image_output(b"not an image")))
    assert not from_notebook
    assert Image.open(io.BytesIO(data)).size == SIZE
