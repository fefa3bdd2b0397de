"""Acceptance: on the "unlike" roaster the demo model misses first crack; `firstcrack tune`
on 5 of its user-labelled roasts fixes held-out seeds it never saw (measured, not assumed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from firstcrack.agent.cli.entry import main as cli
from firstcrack.agent.config import AgentConfig
from firstcrack.models.datasets.records import Recording
from firstcrack.models.inference.classifier import load_classifier
from firstcrack.models.sim.recordings import write_user_roasts
from firstcrack.models.sim.unlike import simulate_unlike
from firstcrack.models.tune.report import event_rows, summarise

DURATION_S = 420.0
HELD_OUT = (100, 101, 102, 104)


def _held_out() -> list[Recording]:
    recs = []
    for seed in HELD_OUT:
        audio, truth = simulate_unlike(seed, DURATION_S)
        recs.append(Recording(f"seed{seed}", Path(f"seed{seed}"), audio,
                              [(truth.first_crack_onset_s, truth.first_crack_end_s)], {}))
    return recs


@pytest.mark.timeout(600)
def test_tune_on_five_roasts_fixes_held_out_unlike_roasts(tmp_path: Path) -> None:
    rec = tmp_path / "recordings"
    write_user_roasts(rec, range(200, 205), simulate_unlike, DURATION_S)
    out = tmp_path / "state" / "models" / "tuned"
    code = cli(["tune", "--recordings", str(rec), "--from", "ast-demo", "--out", str(out),
                "--cache", str(tmp_path / "cache"), "--threads", "2"])
    assert code == 0
    assert (out / "onnx" / "int8" / "model_quantized.onnx").is_file()
    assert (out / "config.json").is_file() and (out / "tune_report.json").is_file()
    held, config = _held_out(), AgentConfig()
    before = summarise("ast-demo", event_rows(held, load_classifier("ast-demo"), config))
    after = summarise("tuned", event_rows(held, load_classifier(str(out)), config))
    assert before["misses"] >= 3, before  # the demo model does not know this roaster
    assert after["misses"] <= 1 and after["false_alarms"] == 0, after
    assert after["median_abs_onset_error_s"] is not None
    assert after["median_abs_onset_error_s"] < 15.0, after
