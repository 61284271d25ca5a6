"""Impossible disk, outage and crash settings are refused with one line naming the field, for
``Config`` and for JSON profiles (``simqueue calibrate --out``)."""

from __future__ import annotations

import json

import pytest

from simqueue import Config
from simqueue.sim.disk import PROFILES, DiskProfile, Latency

GOOD = PROFILES["nvme"].to_dict()


def _one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"fsync_latency": -0.001}, "fsync_latency must be non-negative"),
        ({"fsync_latency": float("nan")}, "fsync_latency must be a finite number"),
        ({"disk": "floppy"}, "disk must be one of nvme, sata-ssd"),
        ({"disk": 5}, "disk must be a profile name, a path or a DiskProfile"),
        ({"clients": "shout"}, "clients must be one of retry, reject"),
        ({"crash_at": -1.0}, "crash_at must be non-negative"),
        ({"crash_at": "soon"}, "crash_at must be a finite number"),
        ({"crash_kind": "meteor"}, "crash_kind must be one of process, power"),
        ({"crash_tear": "shred"}, "crash_tear must be one of drop, prefix, garble, zero"),
    ],
)
def test_config_refuses_impossible_values_naming_the_field(changes, names) -> None:
    with pytest.raises(ValueError) as exc:
        Config(**changes)
    assert names in _one_line(exc)


def _profile_file(tmp_path, content) -> str:
    path = tmp_path / "disk.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def _without(key: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != key}


@pytest.mark.parametrize(
    ("content", "names"),
    [
        ("{not json", "is not JSON"),
        ("", "is not JSON"),
        ([1, 2], "must be a JSON object; got list"),
        (_without("fdatasync"), "missing field 'fdatasync'"),
        (_without("recovery"), "missing field 'recovery'"),
        ({**GOOD, "recovery": {"per_record": 1e-6}}, "missing field 'recovery.per_snapshot_job'"),
        ({**GOOD, "recovery": 3}, "field 'recovery' must be an object"),
        (
            {**GOOD, "fsync": [[0, -0.001], [1, 0.002]]},
            "field 'fsync': latency must be non-negative",
        ),
        ({**GOOD, "fsync": [[0, 0.002], [1, 0.001]]}, "field 'fsync': latency points must rise"),
        ({**GOOD, "fsync": [[0.5, 0.001], [1, 0.002]]}, "run from quantile 0 to quantile 1"),
        ({**GOOD, "fsync": "fast"}, "field 'fsync' must be a list of [quantile, seconds] pairs"),
        (
            {**GOOD, "recovery": {"per_record": -1, "per_snapshot_job": 0}},
            "recovery.per_record must be non-negative",
        ),
    ],
)
def test_a_bad_profile_file_is_refused_naming_the_file_and_field(tmp_path, content, names) -> None:
    path = _profile_file(tmp_path, content)
    with pytest.raises(ValueError) as exc:
        Config(disk=path)
    text = _one_line(exc)
    assert names in text and path in text


def test_a_missing_profile_file_is_refused_naming_it(tmp_path) -> None:
    with pytest.raises(ValueError) as exc:
        Config(disk=str(tmp_path / "nowhere.json"))
    assert "disk: cannot read profile" in _one_line(exc)


def test_a_bad_latency_is_refused_in_code_too() -> None:
    with pytest.raises(ValueError, match="latency must be non-negative"):
        Latency.constant(-1.0)
    with pytest.raises(ValueError, match="latency needs at least one sample"):
        Latency.from_samples([])
    with pytest.raises(ValueError, match="disk: missing field 'name'"):
        Config(disk={k: v for k, v in GOOD.items() if k != "name"})
    assert DiskProfile.from_dict(GOOD) == PROFILES["nvme"]
