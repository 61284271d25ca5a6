"""Graded exercises: a learner's function plugged into the real engine and judged by the crash
campaign, which answers "passed N crash states" or with the first counterexample (the crash
point, the power-loss outcome, the invariant that broke and the job).

The grader lives in ``testing``, not in ``lab`` with the other notebook helpers, because the
crash campaign it runs (:mod:`simqueue.testing.crashsim`) lives here and ``lab`` sits below
``testing`` in the layers (``cli > testing > lab | service > sim > core``, checked by
``lint-imports``): ``lab`` may not import the campaign.

:mod:`.exercises` says what each exercise asks and where the learner's function goes into the
engine; :mod:`.grader` runs the campaign over it; :mod:`.report` says what it found.
:mod:`.explorer` lays one workload's crash points and power-loss outcomes out as plain records
(notebook 08), and :mod:`.explorer_view` shows them: a slider, a selector and a heatmap.
"""

from simqueue.testing.grading.exercises import EXERCISES, Exercise, Record, exercise
from simqueue.testing.grading.grader import GRADING_BUDGET, counterexample, grade
from simqueue.testing.grading.report import Counterexample, Report, invariant_of, job_in

__all__ = [
    "EXERCISES",
    "GRADING_BUDGET",
    "Counterexample",
    "Exercise",
    "Record",
    "Report",
    "counterexample",
    "exercise",
    "grade",
    "invariant_of",
    "job_in",
]
