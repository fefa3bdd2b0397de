"""Evaluation: window metrics on hand-made arrays, event rules, and one end-to-end run."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.config import ConfigError
from firstcrack.models.evaluation.event_eval import (
    AGENT_FLAGS,
    DETECTOR_FLAGS,
    config_from_flags,
    format_summary,
    run_evaluate,
)
from firstcrack.models.evaluation.event_eval import add_arguments as add_evaluate_arguments
from firstcrack.models.evaluation.event_metrics import Truth, event_metrics, score_event
from firstcrack.models.evaluation.event_run import EvaluateError, evaluate
from firstcrack.models.evaluation.window_metrics import (
    SWEEP_THRESHOLDS,
    confusion_matrix,
    roc_auc,
    roc_curve,
    threshold_sweep,
    window_metrics,
)


def test_roc_auc_of_a_known_case() -> None:
    """3 of the 4 positive/negative pairs are ordered correctly."""
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts one half
    assert roc_auc([0, 0, 1], [0.1, 0.2, 0.9]) == pytest.approx(1.0)
    assert roc_auc([1, 1], [0.2, 0.9]) is None


def test_window_metrics_at_threshold() -> None:
    labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    probs = [0.9, 0.7, 0.6, 0.2, 0.65, 0.1, 0.1, 0.3, 0.0, 0.5]
    m = window_metrics(labels, probs, threshold=0.6)
    # predicted positive: 0.9 0.7 0.6 (tp) and 0.65 (fp); 0.2 is a false negative
    assert m["confusion"] == [[5, 1], [1, 3]]
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.8)
    # positives beat 6 + 6 + 5 + 3 of the 24 positive/negative pairs
    assert m["auc"] == pytest.approx(20 / 24)
    none = window_metrics([1, 0], [0.1, 0.2], threshold=0.9)
    assert none["precision"] == 0.0 and none["recall"] == 0.0 and none["f1"] == 0.0
    assert confusion_matrix([0, 1, 1], [1, 1, 0]) == [[0, 1], [1, 1]]


def test_threshold_sweep_and_roc_curve() -> None:
    sweep = threshold_sweep([0, 1, 1], [0.2, 0.5, 0.9])
    assert [row["threshold"] for row in sweep] == list(SWEEP_THRESHOLDS)
    assert SWEEP_THRESHOLDS[0] == 0.05 and SWEEP_THRESHOLDS[-1] == 0.95
    at_half = next(row for row in sweep if row["threshold"] == 0.5)
    assert at_half["precision"] == 1.0 and at_half["recall"] == 1.0
    fpr, tpr, _ = roc_curve([0, 1, 1], [0.2, 0.5, 0.9])
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def _event(onset: float, at: float) -> SimpleNamespace:
    return SimpleNamespace(onset_s=onset, detected_at_s=at, probability=0.9)


CRACK = Truth("crack", 700.0, 400.0, 500.0)
QUIET = Truth("quiet", 1800.0, None, None)


def test_event_rules_hit_miss_and_false_alarm() -> None:
    hit = score_event(CRACK, _event(395.0, 412.0))
    assert hit["onset_error_s"] == -5.0 and hit["delay_s"] == 12.0
    assert not hit["missed"] and not hit["false_alarm"]
    assert score_event(CRACK, _event(372.0, 375.0))["onset_error_s"] == -28.0  # within 30 s early
    assert score_event(CRACK, None)["missed"]
    late = score_event(CRACK, _event(480.0, 510.0))
    assert late["missed"] and not late["false_alarm"]
    early = score_event(CRACK, _event(290.0, 300.0))
    assert early["missed"] and early["false_alarm"] and early["onset_error_s"] is None
    assert score_event(QUIET, _event(100.0, 120.0))["false_alarm"]
    assert not score_event(QUIET, None)["false_alarm"]


def test_false_alarms_per_hour_count_no_crack_audio_only() -> None:
    """No-crack roasts count whole; crack roasts count up to 30 s before onset."""
    rows = [score_event(QUIET, _event(100.0, 120.0)), score_event(CRACK, _event(395.0, 412.0)),
            score_event(Truth("c2", 600.0, 300.0, 400.0), None)]
    summary = event_metrics(rows)
    hours = (1800 + 370 + 270) / 3600
    assert summary["no_crack_hours"] == pytest.approx(hours)
    assert summary["false_alarms"] == 1
    assert summary["false_alarms_per_hour"] == pytest.approx(1 / hours)
    assert summary["detected"] == 1 and summary["missed"] == 1
    assert summary["missed_recordings"] == ["c2"]
    assert summary["onset_error_s"]["median"] == -5.0 and summary["delay_s"]["max"] == 12.0


def test_end_to_end_on_simulated_roasts(tiny_model_dir: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTCRACK_DETECTOR__GATE", "off")  # every window on the 5 s grid
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    args = parser.parse_args([
        "--model", str(tiny_model_dir), "--simulate", "1,1", "--sim-duration", "60",
        "--json", str(tmp_path / "eval.json"), "--plots", str(tmp_path / "plots"),
        "--sim-dir", str(tmp_path / "sim"), "--hop", "5",
    ])
    result = run_evaluate(args)
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["window_metrics"] == result["window_metrics"]
    assert result["simulated"] == {"crack_seeds": [10000], "no_crack_seeds": [10001],
                                   "duration_s": 60.0}
    # 60 s roasts, 10 s windows every 5 s through the live path: 11 windows each
    assert result["window_metrics"]["n"] == 22
    assert [r["recording_id"] for r in result["recordings"]] == ["sim_crack_10000",
                                                                "sim_nocrack_10001"]
    assert result["events"]["crack_recordings"] == 1
    onset = result["recordings"][0]["onset_s"]
    assert result["events"]["no_crack_hours"] == pytest.approx((60 + max(0, onset - 30)) / 3600)
    assert (tmp_path / "plots" / "roc.png").stat().st_size > 0
    assert (tmp_path / "plots" / "sweep.png").stat().st_size > 0
    assert "windows: n=22" in format_summary(result)


def test_chunk_layout_gets_window_metrics_only(tiny_model_dir: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for label in ("first_crack", "no_first_crack"):
        (tmp_path / label).mkdir()
        for i in range(2):
            audio = (0.1 * rng.standard_normal(160_000)).astype(np.float32)
            sf.write(tmp_path / label / f"r{i}_chunk_000.wav", audio, 16_000)
    result = evaluate(str(tiny_model_dir), data=tmp_path, backend="torch")
    assert result["window_metrics"]["n"] == 4 and result["window_metrics"]["positives"] == 2
    assert result["events"] is None


def test_training_seeds_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    (model / "train_report.json").write_text(json.dumps(
        {"simulated": {"crack_seeds": [10000], "no_crack_seeds": [10001]}}))
    with pytest.raises(EvaluateError, match="10000"):
        evaluate(str(model), simulate=(1, 0), sim_duration=60.0)


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_evaluate_arguments(parser)
    return parser.parse_args(["--model", "demo", "--simulate", "1,0", *argv])


def test_flags_are_config_overrides_over_the_file(tmp_path: Path) -> None:
    """Every detector flag goes through load_config: merged over --config, validated by it."""
    config_file = tmp_path / "agent.yaml"
    config_file.write_text("backend: onnx\nthreads: 2\ndetector:\n  threshold: 0.7\n"
                           "  idle_hop_s: 90\n  rule: k_of_n\n")
    config = config_from_flags(_parse("--config", str(config_file), "--hop", "5",
                                      "--cadence", "fixed", "--min-positive", "3",
                                      "--confirm-s", "1", "--window", "8", "--threads", "1"))
    d = config.detector
    assert (d.threshold, d.idle_hop_s, d.rule) == (0.7, 90.0, "k_of_n")  # the file's
    assert (d.hop_s, d.cadence, d.min_positive, d.confirm_s, d.window_s) == (5, "fixed", 3, 1, 8)
    assert (config.model, config.backend, config.threads) == ("demo", "onnx", 1)


def test_every_override_flag_names_a_config_key() -> None:
    from firstcrack.agent.config import AgentConfig, DetectorConfig

    assert set(DETECTOR_FLAGS.values()) <= set(DetectorConfig.model_fields)
    assert set(AGENT_FLAGS.values()) <= set(AgentConfig.model_fields)
    args = _parse()
    assert all(hasattr(args, dest) for dest in [*DETECTOR_FLAGS, *AGENT_FLAGS])


def test_a_bad_flag_names_itself_and_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_flags(_parse("--min-positive", "0"))
    assert str(info.value).startswith("--min-positive: invalid configuration: "
                                      "detector.min_positive: ")
    config_file = tmp_path / "agent.yaml"
    config_file.write_text("detector:\n  confirm_s: 0.5\n")
    with pytest.raises(ConfigError) as info:  # the file's mistake is not blamed on a flag
        config_from_flags(_parse("--config", str(config_file), "--hop", "5"))
    assert str(info.value).startswith("invalid configuration: detector.confirm_s: ")
