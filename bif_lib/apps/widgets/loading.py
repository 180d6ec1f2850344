"""Loading indicator and German messages for app callbacks.

``Status.working()`` wraps a computation: it shows a spinner („Berechne …“) while the kernel
works, disables the given controls so nobody queues ten changes, and turns errors into German
messages in the page (a planner never sees a traceback; input errors of the planning models
are already German sentences).
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import time

import ipywidgets as widgets

log = logging.getLogger("bif.ui")
RAISE_ENV = "BIF_UI_RAISE"  # set (e.g. by the notebook tests) to re-raise errors after showing them

SPINNER = ('<span class="bif-status bif-busy" role="status" aria-live="polite">'
           '<span class="bif-spinner"></span> {text}</span>')
ERROR = '<span class="bif-status bif-error" role="alert">{text}</span>'
READY = '<span class="bif-status bif-ready" aria-live="polite">{text}</span>'


class Status(widgets.HTML):
    """One line of status under the controls: busy, ready (with duration) or an error."""

    def __init__(self, **kwargs):
        super().__init__(value="", **kwargs)
        self.add_class("bif-status-line")
        self.last_error: str | None = None
        self.last_seconds: float | None = None

    def show_busy(self, text: str = "Berechne …") -> None:
        self.value = SPINNER.format(text=html.escape(text))

    def show_error(self, text: str) -> None:
        self.last_error = text
        self.value = ERROR.format(text=html.escape(text))

    def show_ready(self, text: str = "") -> None:
        self.value = READY.format(text=html.escape(text)) if text else ""

    @contextlib.contextmanager
    def working(self, text: str = "Berechne …", disable=()):
        """Spinner and disabled controls during the block; errors become a German message."""
        self.last_error = None
        self.show_busy(text)
        previous = [(w, w.disabled) for w in disable]
        for w, _ in previous:
            w.disabled = True
        started = time.perf_counter()
        try:
            yield self
        except ValueError as e:  # planner input outside its bounds: the message is German already
            self.show_error(f"Eingabe nicht übernommen: {e}")
            if os.environ.get(RAISE_ENV):
                raise
        except Exception as e:  # noqa: BLE001 - show, log, keep the app usable
            log.exception("app callback failed")
            if os.environ.get(RAISE_ENV):
                raise
            self.show_error(f"Die Berechnung ist fehlgeschlagen ({type(e).__name__}: {e}). "
                            "Bitte Eingaben prüfen oder die Seite neu laden.")
        else:
            self.last_seconds = time.perf_counter() - started
            self.show_ready()
        finally:
            for w, was_disabled in previous:
                w.disabled = was_disabled

