"""The rule sweep replays the detector over cached probabilities and picks by measured cost."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.cli import main
from firstcrack.agent.config import ConfigError
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.models.evaluation import rule_sweep
from firstcrack.models.evaluation.event_metrics import Truth
from firstcrack.models.evaluation.rule_sweep import Scored, grid, replay, sweep

HOP = 3.0


def scored(rid: str, duration: float, positives: list[float], onset: float | None) -> Scored:
    ends = np.arange(10.0, duration + 1e-9, HOP)
    probs = np.array([0.95 if any(abs(e - t) < 1e-6 for t in positives) else 0.05 for e in ends])
    end = None if onset is None else max(positives)
    return Scored(Truth(rid, duration, onset, end), ends, probs)


def test_replay_matches_the_detector_rule() -> None:
    s = scored("r", 300.0, [100.0 + 3 * i for i in range(6)], 95.0)
    fc = replay(s, RuntimeSettings(rule="k_of_n", min_positive=5, confirm_s=20.0), 10.0)
    assert fc is not None and fc.detected_at_s == 112.0 and fc.onset_s == 95.0


def test_sweep_prefers_a_rule_that_hears_sparse_crack_without_false_alarms() -> None:
    """Sparse crack (a positive every 9 s) defeats 5-in-20; clicks (3 windows each, every
    2 min) punish rules that confirm on 3 positives. The evidence rule wins both."""
    sparse = scored("sparse", 900.0, [400.0 + 9 * i for i in range(10)], 395.0)
    dense = scored("dense", 900.0, [502.0 + 3 * i for i in range(20)], 497.0)
    clicks = [t + d for t in np.arange(100.0, 3500.0, 120.0) for d in (0.0, 3.0, 6.0)]
    quiet = scored("quiet", 3600.0, [10.0 + round((c - 10.0) / 3) * 3 for c in clicks], None)
    result = sweep([sparse, dense, quiet], RuntimeSettings(), 10.0)
    assert result["published"]["missed"] == 1  # 5 in 20 s misses the sparse roast
    best = result["best"]
    assert best["missed"] == 0 and best["false_alarms"] == 0
    assert best["rule"] == "evidence"


def test_evaluate_sweep_writes_the_curve_and_table(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    code = main(["evaluate", "--model", "demo", "--simulate", "1,1", "--sim-duration", "120",
                 "--sim-seed-offset", "50000", "--json", str(tmp_path / "e.json"),
                 "--sweep", str(out)])
    assert code == 0
    found = json.loads((out / "sweep.json").read_text())
    assert len(found["rows"]) == 200 and found["best"]["crack_recordings"] == 1
    assert (out / "tradeoff.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "e.json").read_text())["rule_sweep"]["best"] == found["best"]
    # With a fixed cadence the evaluation's own windows are the sweep's scores: same rows.
    fixed = tmp_path / "fixed"
    assert main(["evaluate", "--model", "demo", "--simulate", "1,1", "--sim-duration", "120",
                 "--sim-seed-offset", "50000", "--cadence", "fixed", "--sweep", str(fixed)]) == 0
    assert json.loads((fixed / "sweep.json").read_text())["rows"] == found["rows"]


def test_the_grid_holds_only_settings_the_config_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep must never recommend what agent.yaml or a `/set` would refuse."""
    assert len(grid(RuntimeSettings())) == 200
    monkeypatch.setattr(rule_sweep, "EVIDENCE_GRID", {"min_positive": (2,), "confirm_s": (0.5,)})
    with pytest.raises(ConfigError, match=r"detector\.confirm_s"):
        grid(RuntimeSettings())
