"""Fencing tokens that survive crashes (docs/semantics.md, "Fencing tokens"): every open of a
data directory takes an epoch above every earlier one and makes it durable before it returns, and
the token of an attempt is (epoch, attempt), so no token is handed out twice."""

from __future__ import annotations

import os
import random

import pytest

from simqueue import Job, StorageError
from simqueue.core.errors import SimulatedCrash
from simqueue.core.fencing import (
    EPOCH_NAME,
    EPOCH_TMP_NAME,
    describe_token,
    make_token,
    read_epoch,
    token_parts,
)
from simqueue.core.storage import TEAR_MODES
from simqueue.testing.faults import FaultyFileSystem


def test_a_token_is_its_epoch_and_attempt() -> None:
    token = make_token(3, 2)
    assert token_parts(token) == (3, 2)
    assert describe_token(token) == "epoch 3, attempt 2"
    assert make_token(2, 2**32 - 1) < make_token(3, 1)  # a later epoch always ranks higher


def test_every_open_takes_the_next_epoch_and_dispatch_hands_out_its_token(make_queue) -> None:
    q = make_queue()
    assert q.epoch == 1 and q.recovery is None
    q.enqueue(Job("a"))
    job = q.dispatch(0)
    assert job is not None and job.token == make_token(1, 1) == q.token_of("a")
    q.close()
    q = make_queue()
    assert q.epoch == 2 and q.recovery is not None and q.recovery.epoch == 2
    assert q.token_of("a") is None  # the interrupted attempt ended with the crash
    job = q.dispatch(0)
    assert job is not None and job.token == make_token(2, 2)


def test_the_epoch_survives_a_power_cut_right_after_open(make_queue, crash_kind) -> None:
    from conftest import crash

    q = make_queue(fsync="never")
    fs = q.fs
    crash(q, crash_kind)
    q = make_queue(fs=fs, fsync="never")
    assert q.epoch == 2
    assert read_epoch(fs, q.data_dir) == 2


@pytest.mark.parametrize("tear", TEAR_MODES)
def test_a_power_cut_anywhere_in_an_open_never_reuses_an_epoch_tokens_went_out_under(
    data_dir, clock, tear
) -> None:
    """Crash before each operation of the second open in turn, cut the power, open again: the
    epoch taken is above the first open's, whose tokens went out."""
    from simqueue import DurableQueue

    fs = FaultyFileSystem(real_fsync=False, track_power_loss=True)
    first = DurableQueue.open(data_dir, fs=fs, clock=clock, durability="modeled", fsync="never")
    first.enqueue(Job("a"))
    used = first.dispatch(0)
    assert used is not None and used.token is not None
    first.abandon()
    fs.power_loss(random.Random(0), tear)
    n = 0
    while True:
        fs.crash_at(n)
        try:
            q = DurableQueue.open(data_dir, fs=fs, clock=clock, durability="modeled", fsync="never")
        except SimulatedCrash:
            fs.disarm()
            fs.power_loss(random.Random(n), tear)
            again = DurableQueue.open(data_dir, fs=fs, clock=clock, durability="modeled")
            assert token_parts(used.token)[0] < again.epoch
            again.abandon()
            fs.power_loss(random.Random(n), tear)
            n += 1
            continue
        fs.disarm()
        assert q.epoch > token_parts(used.token)[0]
        q.abandon()
        break
    assert n > 5  # the open was cut at every one of its operations


def test_a_leftover_temp_file_is_removed_and_its_epoch_never_used(make_queue) -> None:
    q = make_queue()
    q.close()
    with open(os.path.join(q.data_dir, EPOCH_TMP_NAME), "w") as f:
        f.write("half an epoch")
    q = make_queue()
    assert q.epoch == 2
    assert not os.path.exists(os.path.join(q.data_dir, EPOCH_TMP_NAME))


def test_a_damaged_epoch_file_stops_the_open_with_its_name(make_queue) -> None:
    q = make_queue()
    q.close()
    with open(os.path.join(q.data_dir, EPOCH_NAME), "w") as f:
        f.write("epoch 7 crc 00000000\n")
    with pytest.raises(StorageError, match=f"{EPOCH_NAME} is damaged"):
        make_queue()
    # the failed open released the directory: a second one fails the same way, not as locked
    with pytest.raises(StorageError, match="is damaged"):
        make_queue()
