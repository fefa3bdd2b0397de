"""Sparse first crack: 8-30 scattered pops over 40-120 s with gaps of up to 20 s, drawn for
about 30 % of crack roasts or forced by the caller, recorded in the truth and the CLI."""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest

from firstcrack.agent.cli import main
from firstcrack.models.sim.simulator import (
    SAMPLE_RATE,
    RoastTruth,
    SimulatorError,
    draw_timeline,
    load_truth,
    simulate_roast,
    write_roast,
)

SEEDS = range(300)


@cache
def drawn() -> list[RoastTruth]:
    """Full-length timelines with sparseness left to the seed."""
    return [draw_timeline(s) for s in SEEDS]


def check_sparse_crack(t: RoastTruth, span: tuple[float, float], gap_max: float) -> None:
    pops = np.asarray(t.pop_times_s)
    assert t.params["sparse"] is True
    assert 8 <= pops.size <= 30
    assert pops[0] == t.first_crack_onset_s and pops[-1] == t.first_crack_end_s
    assert np.all(np.diff(pops) > 0)
    assert span[0] - 1e-6 <= pops[-1] - pops[0] <= span[1] + 1e-6
    assert np.diff(pops).max() <= gap_max + 1e-6
    assert pops[-1] < t.duration
    if t.second_crack_onset_s is not None:
        assert t.second_crack_onset_s > t.first_crack_end_s


def test_about_a_third_of_crack_roasts_are_sparse_and_no_crack_roasts_never() -> None:
    share = np.mean([t.params["sparse"] for t in drawn()])
    assert 0.2 <= share <= 0.4
    for seed in range(20):
        assert draw_timeline(seed, crack=False).params["sparse"] is False


def test_full_length_sparse_cracks_have_8_to_30_pops_over_40_to_120_s() -> None:
    sparse = [t for t in drawn() if t.params["sparse"]]
    for t in sparse:
        check_sparse_crack(t, (40.0, 120.0), 20.0)
        assert 398 <= t.first_crack_onset_s <= 790
    gaps = np.concatenate([np.diff(t.pop_times_s) for t in sparse])
    assert gaps.max() > 12.0  # long silences really occur
    assert np.mean(gaps < 1.0) > 0.05  # and so do pops close together
    counts = [len(t.pop_times_s) for t in sparse]
    assert min(counts) <= 12 and max(counts) >= 25  # the whole 8-30 range is used


def test_sparse_and_dense_cracks_differ_in_pop_count_and_rate() -> None:
    for seed in range(20):
        sparse = draw_timeline(seed, sparse=True)
        dense = draw_timeline(seed, sparse=False)
        assert len(sparse.pop_times_s) < len(dense.pop_times_s)
        rate = len(sparse.pop_times_s) / (sparse.first_crack_end_s - sparse.first_crack_onset_s)
        assert rate < 0.8
        assert sparse.events == dense.events  # same room, only the crack changes


@pytest.mark.parametrize("duration", [40.0, 120.0, 300.0])
def test_scaled_sparse_cracks_keep_their_pop_count_and_fit(duration: float) -> None:
    for seed in range(30):
        for second in (None, True):
            t = draw_timeline(seed, duration, sparse=True, second_crack=second)
            assert t.params["timeline_mode"] == "scaled"
            check_sparse_crack(t, (0.05 * duration, 120.0), 20.0)
            assert 0.4 * duration <= t.first_crack_onset_s <= 0.8 * duration


def test_the_flag_is_obeyed_and_recorded(tmp_path) -> None:
    for seed in range(10):
        assert draw_timeline(seed, sparse=True).params["sparse"] is True
        assert draw_timeline(seed, sparse=False).params["sparse"] is False
    wav, js = write_roast(tmp_path / "s.wav", 4, 60.0, sparse=True)
    ann = json.loads(js.read_text())
    assert ann["sparse"] is True and ann["params"]["sparse"] is True
    assert load_truth(wav).params["sparse"] is True
    with pytest.raises(SimulatorError, match="sparse"):
        draw_timeline(1, crack=False, sparse=True)


def test_sparse_pops_are_audible_and_deterministic() -> None:
    x, t = simulate_roast(9, 90.0, sparse=True)
    y, _ = simulate_roast(9, 90.0, crack=False)
    sr = SAMPLE_RATE
    loud = np.array([np.abs(x[int(p * sr):int(p * sr) + sr // 50]).max() for p in t.pop_times_s])
    quiet = np.array([np.abs(y[int(p * sr):int(p * sr) + sr // 50]).max() for p in t.pop_times_s])
    assert np.median(loud) > 1.4 * np.median(quiet)  # about 3 dB, usually far more
    x2, t2 = simulate_roast(9, 90.0, sparse=True)
    assert np.array_equal(x, x2) and t == t2


def test_cli_simulate_takes_sparse(tmp_path, capsys) -> None:
    out = tmp_path / "cli.wav"
    assert main(["simulate", str(out), "--seed", "3", "--duration", "60", "--sparse", "yes"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["sparse"] is True
    assert main(["simulate", str(out), "--seed", "3", "--duration", "60", "--sparse", "no"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["sparse"] is False
    assert main(["simulate", str(out), "--duration", "60", "--no-crack", "--sparse", "yes"]) != 0
    assert "sparse" in capsys.readouterr().err
