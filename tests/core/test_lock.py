"""One writer per data directory: a second opener, in this process or another, is refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import simqueue
from simqueue import DataDirLockedError, DurableQueue, Job

CHILD = textwrap.dedent(
    """
    import sys
    from simqueue import DataDirLockedError, DurableQueue
    try:
        q = DurableQueue.open(sys.argv[1], durability="modeled")
    except DataDirLockedError as exc:
        print("LOCKED", exc)
        sys.exit(3)
    print("OPENED", len(q))
    q.close()
    """
)


def open_in_child(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )


def _env() -> dict[str, str]:
    """The child imports the simqueue under test, wherever it is."""
    root = os.path.dirname(os.path.dirname(simqueue.__file__))
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_second_open_in_the_same_process_is_refused(make_queue, data_dir) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    with pytest.raises(DataDirLockedError) as info:
        make_queue()
    assert str(data_dir) in str(info.value) and "LOCK" in str(info.value)
    assert q.enqueue(Job("b"))  # the owner is unaffected


@pytest.mark.parametrize("release", ["close", "abandon"])
def test_directory_opens_again_after_the_owner_lets_go(make_queue, release) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    getattr(q, release)()
    q = make_queue()
    assert "a" in q


def test_second_open_from_another_process_is_refused(make_queue, data_dir) -> None:
    q = make_queue()
    q.enqueue(Job("a"))
    child = open_in_child(data_dir)
    assert child.returncode == 3, child.stderr
    assert "LOCKED" in child.stdout and str(data_dir) in child.stdout
    q.close()
    child = open_in_child(data_dir)
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == ["OPENED", "1"]


def test_lock_held_by_another_process_blocks_us_until_it_exits(data_dir) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from simqueue import DurableQueue;"
            "q = DurableQueue.open(sys.argv[1], durability='modeled');"
            "print('ready', flush=True); sys.stdin.read()",
            str(data_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DataDirLockedError):
            DurableQueue.open(data_dir, durability="modeled")
    finally:
        holder.kill()  # the kernel releases a dead process's lock
        holder.wait(timeout=30)
    q = DurableQueue.open(data_dir, durability="modeled")
    q.close()
