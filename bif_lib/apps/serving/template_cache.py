"""Page templates compiled once per Voilà, not once per page.

Voilà renders every app page (each preheated kernel's, each page rendered on request) with a
new ``VoilaExporter``, and each exporter builds its own Jinja environment, which compiles the
app template and everything it extends (Voilà's and nbconvert's templates) again: about 110 ms
of Voilà's event loop per kernel, against 8 ms with the compiled templates at hand (measured
2026-12-08 on the ``bif`` template). When a page takes a preheated kernel, the refill that
follows compiled them while the shared pages' changes waited for the same loop.

Jinja's own answer is a bytecode cache (``Environment.bytecode_cache``), usually on disk; here
one in memory for the process, not on disk, where the app kernels (which run under Voilà's
account) could put code of their own for Voilà to run. Jinja checks each template's source against the cached code's
checksum whenever it loads it, so a changed template file is compiled again. The code compiled
for an async environment differs from the synchronous one: one cache for each.

Loaded by path in Voilà's process (see voila_server.py), so it imports nothing of bif_lib.
"""

from __future__ import annotations

import jinja2
from voila.exporter import VoilaExporter


class MemoryBytecodeCache(jinja2.BytecodeCache):
    """Jinja's bytecode cache, in this process's memory."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)  # discarded by Jinja if the source changed since

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()

    def __len__(self) -> int:
        return len(self._code)


CACHES: dict[bool, MemoryBytecodeCache] = {}  # by Environment.is_async


class CachingVoilaExporter(VoilaExporter):
    """Voilà's exporter, with the process's compiled templates."""

    def _create_environment(self) -> jinja2.Environment:
        environment = super()._create_environment()
        environment.bytecode_cache = CACHES.setdefault(environment.is_async, MemoryBytecodeCache())
        return environment


def install() -> None:
    """Voilà's renderers use ``CachingVoilaExporter`` from now on (``NotebookRenderer`` looks
    the exporter class up in its module each time it renders a notebook)."""
    import voila.notebook_renderer

    voila.notebook_renderer.VoilaExporter = CachingVoilaExporter
