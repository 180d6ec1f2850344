"""Page templates compiled once per Voilà, not once per page (bif_lib/apps/serving/template_cache.py)."""

from __future__ import annotations

import jinja2
import nbformat
import pytest
import voila.notebook_renderer
from apps_helpers import run_async
from voila.exporter import VoilaExporter
from voila.paths import collect_template_paths

from bif_lib.apps.serving import template_cache
from bif_lib.apps.serving.template_cache import CachingVoilaExporter, MemoryBytecodeCache

SHARE = template_cache.__file__.rsplit("/", 1)[0] + "/share"


@pytest.fixture
def compiled(monkeypatch):
    """The names of the templates Jinja compiles from now on; a fresh cache for the process."""
    names: list[str] = []
    original = jinja2.Environment.compile

    def compile_(self, source, name=None, *args, **kwargs):
        names.append(name)
        return original(self, source, name, *args, **kwargs)

    monkeypatch.setattr(jinja2.Environment, "compile", compile_)
    monkeypatch.setattr(template_cache, "CACHES", {})
    return names


def render_app_page(exporter_class) -> str:
    """An app page as Voilà renders it: BIF's template, a notebook of one cell."""
    exporter = exporter_class(template_paths=collect_template_paths(["voila", "nbconvert"], "bif"),
                              template_name="bif")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('Hallo')", id="hallo")])
    resources = {"base_url": "/", "theme": "light", "template": "bif", "metadata": {"name": "app"},
                 "page_config": {"bifFrontendVersion": "1", "fullStaticUrl": "/static"}}

    async def kernel_start(nb):
        return "kernel"

    async def cells(nb, kernel_id):
        for cell in nb.cells:
            yield cell

    extra = {"frontend": "voila", "main_js": "voila.js", "kernel_start": kernel_start, "cell_generator": cells,
             "notebook_execute": lambda nb, kernel_id: nb, "progressive_rendering": False}

    async def html():
        return "".join([part async for part, _ in exporter.generate_from_notebook_node(nb, resources, extra)])

    return run_async(html())


def test_the_second_page_is_rendered_without_compiling_a_template(compiled, monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", SHARE)
    plain = render_app_page(VoilaExporter)
    assert len(compiled) > 5  # the app template, and Voilà's and nbconvert's it extends
    compiled.clear()
    first = render_app_page(CachingVoilaExporter)
    assert len(compiled) > 5 and len(template_cache.CACHES[True]) > 5  # into the cache, once
    compiled.clear()
    second = render_app_page(CachingVoilaExporter)
    assert compiled == []
    assert first == second == plain and "Alle Apps" in plain  # the bif template's page


def test_a_changed_template_is_compiled_again(tmp_path, compiled):
    page = tmp_path / "page.html.j2"
    page.write_text("Stand: {{ stand }}", encoding="utf-8")
    cache = MemoryBytecodeCache()

    def render() -> str:  # a new environment each time, as each of Voilà's exporters has
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), bytecode_cache=cache)
        return env.get_template("page.html.j2").render(stand="A")

    assert render() == "Stand: A" and compiled == ["page.html.j2"]
    assert render() == "Stand: A" and compiled == ["page.html.j2"]
    page.write_text("Version {{ stand }}", encoding="utf-8")
    assert render() == "Version A" and compiled == ["page.html.j2"] * 2


def test_async_and_synchronous_environments_keep_their_own_compiled_code(tmp_path, compiled):
    (tmp_path / "page.html.j2").write_text("{% for x in xs %}{{ x }}{% endfor %}", encoding="utf-8")

    def render(is_async: bool) -> str:
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), enable_async=is_async)
        env.bytecode_cache = template_cache.CACHES.setdefault(env.is_async, MemoryBytecodeCache())
        template = env.get_template("page.html.j2")
        return run_async(template.render_async(xs=[1, 2])) if is_async else template.render(xs=[1, 2])

    assert render(True) == render(False) == render(True) == render(False) == "12"
    assert len(compiled) == 2


def test_voila_renders_with_the_caching_exporter_once_installed(monkeypatch):
    monkeypatch.setattr(voila.notebook_renderer, "VoilaExporter", voila.notebook_renderer.VoilaExporter)
    template_cache.install()
    assert voila.notebook_renderer.VoilaExporter is CachingVoilaExporter
