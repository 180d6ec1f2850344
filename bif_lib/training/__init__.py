"""The onboarding course (``notebooks/training``): exercises checked in the notebook.

Participants call ``pruefe("2.1", antwort)`` (English: ``check``) and get German feedback at
once; the results land in ``~/.bif/schulung/ergebnisse.json``, which the trainer page reads with
``read_results`` and condenses with ``summary``. All exercises are declared in ``exercises.py``.
"""

from bif_lib.training.exercises import COURSE, Exercise, check, pruefe, read_results, results_path, summary

__all__ = ["COURSE", "Exercise", "check", "pruefe", "read_results", "results_path", "summary"]
