"""Write-behind under modeled durability: gathered writes change no answer the file system gives,
survive a process crash, and meet a power cut exactly as unsynced bytes would."""

from __future__ import annotations

import os
import random

import pytest

from simqueue import Config, Poisson, Simulation
from simqueue.core.storage import FileSystem


@pytest.fixture
def gathering(tmp_path):
    fs = FileSystem(real_fsync=False, track_power_loss=True)
    fs.write_behind = True
    path = str(tmp_path / "log")
    return fs, path, fs.create(path)


def test_gathered_writes_wait_until_someone_looks(gathering) -> None:
    fs, path, handle = gathering
    fs.write(handle, b"abc")
    fs.write(handle, b"def")
    assert os.path.getsize(path) == 0  # still in the handle: no system call yet
    assert handle.size == 6 and fs.stats.bytes_written == 6 and fs.stats.writes == 2
    assert fs.size(path) == 6  # asking drains first
    assert fs.read_bytes(path) == b"abcdef"


def test_closing_a_file_puts_its_bytes_in_it_as_a_process_crash_would(gathering) -> None:
    fs, path, handle = gathering
    fs.write(handle, b"survives kill -9")
    fs.close(handle)
    with open(path, "rb") as f:
        assert f.read() == b"survives kill -9"


def test_a_power_cut_keeps_exactly_what_was_fsynced(gathering) -> None:
    fs, path, handle = gathering
    fs.fsync_dir(os.path.dirname(path))  # the file itself survives
    fs.write(handle, b"durable.")
    fs.fsync(handle)  # modeled: records the offset, writes nothing
    fs.write(handle, b"lost")
    report = fs.power_loss(random.Random(0), "drop")
    with open(path, "rb") as f:
        assert f.read() == b"durable."
    assert report.files_cut[path] == (12, 8)


def test_a_real_fsync_never_finds_bytes_missing(tmp_path) -> None:
    fs = FileSystem(real_fsync=True)
    fs.write_behind = True  # misuse: the real fsync still sees every byte in the file
    handle = fs.create(str(tmp_path / "log"))
    fs.write(handle, b"xyz")
    fs.fsync(handle)
    assert os.path.getsize(tmp_path / "log") == 3


def test_large_gathers_go_to_the_file_without_being_asked(gathering, monkeypatch) -> None:
    import simqueue.core.storage.write_behind as fsmod

    monkeypatch.setattr(fsmod, "WRITE_BEHIND_BYTES", 8)
    fs, path, handle = gathering
    fs.write(handle, b"12345")
    fs.write(handle, b"6789")
    assert os.path.getsize(path) == 9


def test_between_calls_a_simulation_s_files_hold_every_written_byte() -> None:
    with Simulation(Config(seed=2, arrival=Poisson(300), snapshot_interval=None)) as sim:
        sim.run_until(3.0)
        writer = sim.queue.writer
        assert not sim.engine.fs.write_behind
        assert os.path.getsize(writer._handle.path) == writer._handle.size
        on_disk = [r.seq for r in sim.wal_records()]
        assert on_disk == list(range(1, writer.written_seq + 1))
