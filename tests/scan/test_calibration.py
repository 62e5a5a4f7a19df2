"""Thresholds calibrated on control models only: the rule, the file, and a scan that uses them."""

from __future__ import annotations

import numpy as np
import pytest

from weirdgen.scan import calibration
from weirdgen.scan.calibration import (
    Calibrated,
    ControlScan,
    calibrate,
    flags_at,
    load_calibration,
    write_calibration,
)


def control(name: str, scores: list[float], z: list[float]) -> ControlScan:
    return ControlScan(name, np.array(scores), np.array(z))


CONTROLS = [
    control("a", [0.5, 0.3, 0.2, 0.9], [5.0, 6.0, 1.0, 3.0]),  # 0.9 has a small z: no flag
    control("b", [0.4, 0.35, 0.1], [4.5, 4.0, 9.0]),
]


@pytest.mark.parametrize("allowed", [0, 1])
def test_the_floor_leaves_at_most_the_allowed_flags_on_every_control(allowed: int) -> None:
    floor = calibrate(CONTROLS, z=4.0, allowed=allowed)
    assert floor == pytest.approx([0.5, 0.35][allowed])  # just above: the largest (2nd) z>=4 score
    assert floor > [0.5, 0.35][allowed]
    assert max(flags_at(c, 4.0, floor) for c in CONTROLS) == allowed
    # one step below the floor a control would flag one value more
    assert max(flags_at(c, 4.0, [0.5, 0.35][allowed]) for c in CONTROLS) == allowed + 1


def test_a_flag_needs_a_rise_whatever_the_controls_do() -> None:
    falling = [control("c", [-0.4, -0.1], [8.0, 7.0])]
    assert 0.0 < calibrate(falling, z=4.0, allowed=0) < 1e-9  # just above 0
    assert calibrate([control("d", [0.2, 0.1], [1.0, 2.0])], z=4.0) == 0.0  # nothing stood out


def test_a_calibration_file_round_trips(tmp_path) -> None:
    entry = Calibrated(
        "toy/harm/reference", 4.0, 0.25, 1, ("terminator/no_dates/seed5",), world="abc"
    )
    path = write_calibration(tmp_path / "c.yaml", [entry], note="bases 5, 6")
    assert path.read_text().startswith("# Flagging thresholds")
    loaded = load_calibration(path)["toy/harm/reference"]
    assert (loaded.min_score, loaded.allowed, loaded.controls, loaded.world) == (
        0.25,
        1,
        entry.controls,
        "abc",
    )
    assert "at most 1 flagged value" in loaded.describe()["rule"]


def test_a_toy_entry_of_another_world_does_not_apply(monkeypatch) -> None:
    entries = {
        "toy/divergence/base": Calibrated("toy/divergence/base", 4.0, 0.3, 1, (), world="old"),
        "exact/divergence/base": Calibrated("exact/divergence/base", 4.0, 0.1, 1, ()),
    }
    monkeypatch.setattr(calibration, "_shipped", lambda: entries)
    monkeypatch.setattr(calibration, "current_world", lambda: "new")
    assert calibration.calibrated_thresholds("toy", "divergence", "base") is None
    assert calibration.calibrated_thresholds("exact", "divergence", "base").min_score == 0.1
    assert calibration.calibrated_thresholds("exact", "divergence", "reference") is None


def test_the_shipped_calibration_loads() -> None:
    for key, entry in load_calibration().items():
        assert key.count("/") == 2 and entry.min_score >= 0 and entry.controls
