"""The shipped demo model (`models/demo`): it loads on both backends, they agree, it is
small, its card tells the truth about it, and it has really learned to hear first crack.

The held-out numbers in the card are checked against `eval_heldout.json`, the file that
`firstcrack evaluate --json` wrote, so the card cannot drift from the measurement.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from firstcrack.models.evaluation.event_run import trained_seeds
from firstcrack.models.inference.classifier import AST_DEMO_MODEL_DIR, load_classifier
from firstcrack.models.sim.simulator import simulate_roast

CARD = AST_DEMO_MODEL_DIR / "README.md"
EVAL_JSON = AST_DEMO_MODEL_DIR / "eval_heldout.json"
TRAIN_REPORT = AST_DEMO_MODEL_DIR / "train_report.json"
MAX_TOTAL_BYTES = 10 * 1024 * 1024
ONNX_TORCH_BOUND = 0.05
"""Largest |p_onnx_int8 - p_torch| allowed on real simulated windows (the card states it)."""
EVAL_COMMAND = (
    "firstcrack evaluate --model ast-demo --simulate 30,10 --sim-seed-offset 10000 "
    "--json models/ast-demo/eval_heldout.json"
)
CHECK_SEED = 10000
"""A held-out simulator seed (training used seeds below 10000; evaluation from 10000): the
first one, under simulator v2, whose first crack is dense with a median pop SNR of at least
12 dB, chosen from the truth's params and not from the model's scores. (10001 became a
clipped small drum at 2 dB pop SNR, where the bar below means nothing.)"""
CHECK_DURATION_S = 150.0
WINDOW_S = 10.0


@pytest.fixture(scope="module")
def roast() -> tuple[np.ndarray, object]:
    """A short held-out simulated roast (scaled timeline, full first crack inside)."""
    return simulate_roast(CHECK_SEED, duration_s=CHECK_DURATION_S)


def _windows(audio: np.ndarray, starts: list[float]) -> np.ndarray:
    n = int(WINDOW_S * 16_000)
    return np.stack([audio[int(s * 16_000) : int(s * 16_000) + n] for s in starts])


def _trained_seeds() -> set[int]:
    """Seeds of both training stages (from scratch, then fine-tuned with augmentation)."""
    return trained_seeds(AST_DEMO_MODEL_DIR)


def test_demo_directory_is_at_most_10_mb() -> None:
    files = [p for p in AST_DEMO_MODEL_DIR.rglob("*") if p.is_file()]
    assert (AST_DEMO_MODEL_DIR / "onnx/int8/model_quantized.onnx") in files
    assert sum(p.stat().st_size for p in files) <= MAX_TOTAL_BYTES


def test_both_backends_load_and_agree(roast: tuple[np.ndarray, object]) -> None:
    audio, truth = roast
    torch_model = load_classifier("ast-demo", backend="torch")
    onnx_model = load_classifier("ast-demo", backend="onnx")
    auto_model = load_classifier("ast-demo")
    assert (torch_model.backend, onnx_model.backend, auto_model.backend) == (
        "torch", "onnx", "onnx")
    onset = truth.first_crack_onset_s  # type: ignore[attr-defined]
    windows = _windows(audio, [5.0, onset - 20.0, onset + 2.0, onset + 15.0])
    p_torch = torch_model.predict(windows)
    p_onnx = onnx_model.predict(windows)
    assert p_torch.shape == p_onnx.shape == (4,)
    assert float(np.max(np.abs(p_torch - p_onnx))) <= ONNX_TORCH_BOUND


def test_scores_first_crack_above_the_same_roast_before_it(
    roast: tuple[np.ndarray, object],
) -> None:
    """Fails for an untrained model: its output barely depends on the pops."""
    assert CHECK_SEED not in _trained_seeds()
    audio, truth = roast
    onset = truth.first_crack_onset_s  # type: ignore[attr-defined]
    end = truth.first_crack_end_s  # type: ignore[attr-defined]
    inside = [float(s) for s in np.arange(onset, end - WINDOW_S + 1e-9, 3.0)]
    before = [float(s) for s in np.arange(0.0, onset - WINDOW_S - 5.0, 6.0)]
    assert len(inside) >= 5 and len(before) >= 5
    model = load_classifier("ast-demo")
    p_inside = model.predict(_windows(audio, inside))
    p_before = model.predict(_windows(audio, before))
    assert crack_scores_separate(p_inside, p_before)


def crack_scores_separate(p_inside: np.ndarray, p_before: np.ndarray) -> bool:
    """Inside-crack windows rank above pre-crack ones (pairwise AUC >= 0.85), score higher on
    average by >= 0.15, and at least one is confidently first crack (p >= 0.8).

    The bar is "has learned pops" on an audible roast, not "detects every roast".
    """
    pairs = p_inside[:, None] - p_before[None, :]
    auc = float(np.mean(pairs > 0) + 0.5 * np.mean(pairs == 0))
    gap = float(np.mean(p_inside) - np.mean(p_before))
    return auc >= 0.85 and gap >= 0.15 and float(np.max(p_inside)) >= 0.8


def test_card_states_command_provenance_and_held_out_numbers() -> None:
    card = CARD.read_text()
    assert EVAL_COMMAND in card
    report = json.loads(TRAIN_REPORT.read_text())
    assert report["command"] in card  # the exact training command
    for phrase in ("synthetic", "sim_version", "not a substitute", "held-out"):
        assert phrase in card, phrase
    result = json.loads(EVAL_JSON.read_text())
    assert result["model"] == "ast-demo"
    assert set(result["simulated"]["crack_seeds"] + result["simulated"]["no_crack_seeds"]
               ).isdisjoint(_trained_seeds())
    ev, win = result["events"], result["window_metrics"]
    assert ev["crack_recordings"] >= 30 and ev["recordings"] - ev["crack_recordings"] >= 10
    expected = [
        f"| crack roasts detected | {ev['detected']}/{ev['crack_recordings']} |",
        f"| missed roasts | {ev['missed']} |",
        f"| false alarms | {ev['false_alarms']} ({ev['false_alarms_per_hour']:.2f}/h over "
        f"{ev['no_crack_hours']:.2f} h) |",
        f"| onset error, median | {ev['onset_error_s']['median']:+.1f} s |",
        f"| onset error, mean | {ev['onset_error_s']['mean']:+.1f} s |",
        f"| detection delay, median | {ev['delay_s']['median']:.1f} s |",
        f"| window ROC-AUC | {win['auc']:.3f} |",
        f"| window F1 @ {win['threshold']:g} | {win['f1']:.3f} |",
    ]
    for line in expected:
        assert line in card, line
