"""The crash-consistency campaign: every crash point of real workloads, every way a power cut may
leave the bytes that were not yet fsynced, recovered and checked against the invariants of
``docs/semantics.md``. ``docs/reliability.md`` reports the figures.

``python -m simqueue.testing.crashsim`` (``make crashtest``) runs it all and prints a table;
``tests/testing/test_crash_campaign.py`` runs a bounded version inside ``make test``.

How it works, one module per step:

1. **Record** (:mod:`.workloads`, :mod:`.recording`, :mod:`.driver`). A workload drives a fresh
   queue on a :class:`RecordingFileSystem`, which keeps every mutating operation, replayable;
   after each call a :class:`Mark` notes what the workload was told (``durable_seq``,
   ``written_seq``).
2. **Replay** (:mod:`.disk`). A :class:`Disk` model replays the operations one at a time.
3. **Power loss** (:mod:`.outcomes`). At every crash point (before the first operation, after
   each one), :func:`outcomes` lists the disk states a power cut may leave, by family (the fault
   model). A state met before (same bytes, same promises) is not tried twice.
4. **Recover and check** (:mod:`.checks`, :mod:`.model`). Each state is written into a scratch
   directory and opened, which is recovery. :func:`check_recovery` compares the result with an
   independent model of the log (:func:`model_state`) and with the promises made; then the power
   is cut once more and the directory opened again: the second recovery must give the same state
   and have nothing left to decide.

:mod:`.campaign` runs steps 2-4 over chunks of crash points on any executor (worker processes
by default, a Dask cluster with ``simqueue crashtest --scheduler``);
:mod:`.injection` reruns each workload with an I/O error at each operation instead
(:func:`fault_campaign`); :mod:`.results` holds the figures and the table.

One crash is not the end of it: :mod:`.steps` recovers the disk a crash left (the disk model
itself after a process crash, so what was never made durable can still be lost later), carries
on and crashes again; :mod:`.sequences` runs seeded crash sequences of the workloads, ``depth``
crashes deep (:func:`sequence_campaign`), and :mod:`.seeded` long seeded random runs with many
crashes, injected I/O errors and damaged snapshots (:func:`seeded_campaign`).

Standard library only, like the engine, but for the progress bar and the executors of
:mod:`simqueue.lab.parallel` (and pandas for :func:`campaign_frame`).
"""

from simqueue.testing.crashsim.budget import Budget
from simqueue.testing.crashsim.campaign import (
    CHUNKS,
    campaign_frame,
    crash_campaign,
    crash_points,
    run_campaign,
    run_crash_points,
)
from simqueue.testing.crashsim.checks import Expect, check_recovery, recover_and_check
from simqueue.testing.crashsim.cli import main
from simqueue.testing.crashsim.disk import (
    DATA_DIR,
    Disk,
    read_state,
    scratch_dir,
    state_digest,
    write_state,
)
from simqueue.testing.crashsim.driver import Driver
from simqueue.testing.crashsim.injection import FaultSpec, fault_campaign, fault_specs, run_faults
from simqueue.testing.crashsim.model import LogRec, State, decode_records, model_state, observe
from simqueue.testing.crashsim.outcomes import FAMILIES, SECTOR, Outcome, outcomes
from simqueue.testing.crashsim.recording import Mark, Op, RecordingFileSystem, Trace
from simqueue.testing.crashsim.results import (
    CampaignSummary,
    FaultResult,
    Violation,
    WorkloadResult,
)
from simqueue.testing.crashsim.seeded import SeededResult, run_seeded, seeded_campaign
from simqueue.testing.crashsim.sequences import SequenceResult, run_sequence, sequence_campaign
from simqueue.testing.crashsim.steps import (
    Start,
    Step,
    StepCheck,
    StepChecker,
    check_step,
    descend,
    fresh_start,
    record_step,
    roll_points,
)
from simqueue.testing.crashsim.workloads import WORKLOADS, Workload, record

__all__ = [
    "CHUNKS",
    "DATA_DIR",
    "FAMILIES",
    "SECTOR",
    "WORKLOADS",
    "Budget",
    "SeededResult",
    "SequenceResult",
    "Start",
    "Step",
    "StepCheck",
    "StepChecker",
    "check_step",
    "descend",
    "fresh_start",
    "record_step",
    "roll_points",
    "run_seeded",
    "run_sequence",
    "seeded_campaign",
    "sequence_campaign",
    "CampaignSummary",
    "Disk",
    "Driver",
    "Expect",
    "FaultResult",
    "FaultSpec",
    "LogRec",
    "Mark",
    "Op",
    "Outcome",
    "RecordingFileSystem",
    "State",
    "Trace",
    "Violation",
    "Workload",
    "WorkloadResult",
    "campaign_frame",
    "check_recovery",
    "crash_campaign",
    "crash_points",
    "decode_records",
    "fault_campaign",
    "fault_specs",
    "main",
    "model_state",
    "observe",
    "outcomes",
    "read_state",
    "record",
    "recover_and_check",
    "run_campaign",
    "run_crash_points",
    "run_faults",
    "scratch_dir",
    "state_digest",
    "write_state",
]
