"""The onboarding course (``notebooks/training``): exercises checked in the notebook.

Participants call ``pruefe("2.1", antwort)`` (English: ``check``) and get German feedback at
once; the results land in ``~/.bif/schulung/ergebnisse.json``, which the trainer page reads with
``read_results`` and condenses with ``summary``. All exercises are declared in ``exercises.py``;
the datasets they use come from the city profile (``course_data``/``kursdaten``).
"""

from bif_lib.training.exercises import (
                                        COURSE,
                                        CourseData,
                                        Exercise,
                                        check,
                                        course_data,
                                        kursdaten,
                                        pruefe,
                                        read_results,
                                        results_path,
                                        summary,
)

__all__ = ["COURSE", "CourseData", "Exercise", "check", "course_data", "kursdaten", "pruefe", "read_results",
           "results_path", "summary"]
