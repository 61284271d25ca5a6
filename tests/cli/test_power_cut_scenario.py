"""data/scenarios/power_cut.yaml does what its comment promises: a torn tail, cut, nothing
acknowledged lost."""

from __future__ import annotations

import json
import os

from simqueue.cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_power_cut_scenario_leaves_a_torn_tail_that_recovery_cuts(tmp_path, capsys) -> None:
    scenario = os.path.join(ROOT, "data", "scenarios", "power_cut.yaml")
    assert main(["simulate", "--config", scenario, "--out", str(tmp_path)]) == 0
    assert "cut" in capsys.readouterr().out
    doc = json.loads((tmp_path / "summary.json").read_text())
    (recovery,) = doc["summary"]["recoveries"]
    assert recovery["tail_bytes_discarded"] > 0
    assert doc["summary"]["lost_acknowledged"] == 0
    assert doc["summary"]["completed"] == 2000
