"""The crash campaign checks that no fencing token is handed out twice: each recovery must take
an epoch above the one the crashed run handed its tokens out under
(simqueue/testing/crashsim/checks.py)."""

from __future__ import annotations

from simqueue.core import fencing
from simqueue.testing import crashsim as cs
from simqueue.testing.crashsim.checks import epoch_in_use


def _budget() -> cs.Budget:
    return cs.Budget(every_byte_up_to=0, cuts=2, holes=1, dir_variants=2, stride=2)


def test_the_epoch_in_use_is_the_one_made_durable_by_the_recorded_open(tmp_path) -> None:
    trace = cs.record("steady", str(tmp_path))
    assert epoch_in_use(trace, 0) == 0
    assert epoch_in_use(trace, trace.open_ends_at) == 1
    assert epoch_in_use(trace, len(trace.ops)) == 1
    first_write = next(
        i for i, op in enumerate(trace.ops) if op.path.endswith(fencing.EPOCH_TMP_NAME)
    )
    assert epoch_in_use(trace, first_write + 1) == 0  # written, not yet renamed and synced


def test_the_campaign_passes_the_real_epochs(tmp_path) -> None:
    trace = cs.record("steady", str(tmp_path))
    res = cs.crash_campaign(trace, _budget())
    assert not [p for v in res.violations for p in v.problems if "epoch" in p]


def test_planted_bug_an_open_that_keeps_the_old_epoch_is_caught(monkeypatch, tmp_path) -> None:
    real = fencing.advance_epoch

    def keep_epoch(fs, data_dir):  # the first open takes epoch 1, every later one reuses it
        return fencing.read_epoch(fs, data_dir) or real(fs, data_dir)

    monkeypatch.setattr(fencing, "advance_epoch", keep_epoch)
    trace = cs.record("steady", str(tmp_path))
    res = cs.crash_campaign(trace, _budget())
    problems = [p for v in res.violations for p in v.problems]
    assert any("is not above the crashed run's epoch 1" in p for p in problems)
    assert any("will be handed out again with the same token" in p for p in problems)
    assert any("a second recovery (after a power cut) took epoch 1" in p for p in problems)
