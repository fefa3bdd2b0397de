"""Window metrics for a first-crack classifier, in plain numpy, plus their plots.

These are the per-window numbers the published baseline reports (accuracy,
precision, recall, F1, ROC-AUC, confusion matrix) and a threshold sweep, so a
threshold can be chosen with the trade-off in view. Event metrics (onset
error, missed roasts, false alarms per hour) run the live detector and live in
`firstcrack.models.evaluation.event_eval`, because `models` must not import `agent`.

Conventions: label 1 = first_crack; a window is predicted positive when
p >= threshold (the detector's rule); precision with no positive prediction,
and recall with no positive label, are 0.0; ROC-AUC is None when only one
class is present (it is undefined, and NaN is not valid JSON).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))
"""0.05 .. 0.95 in steps of 0.05."""


def finite_json(value: Any) -> Any:
    """NaN/inf -> None, recursively, so reports are strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def _arrays(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray):
    y = np.asarray(labels, dtype=np.int64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{len(y)} labels but {len(s)} scores")
    return y, s


def roc_auc(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> float | None:
    """Area under the ROC curve as the Mann-Whitney U statistic (ties count one half)."""
    y, s = _arrays(labels, scores)
    n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over tied groups
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(s)]))
    for lo, hi in zip(starts, ends, strict=True):
        ranks[order[lo:hi]] = (lo + hi + 1) / 2.0  # mean of ranks lo+1 .. hi
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(
    labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate, thresholds), from (0,0) to (1,1)."""
    y, s = _arrays(labels, scores)
    thresholds = np.concatenate(([np.inf], np.unique(s)[::-1]))
    n_pos, n_neg = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    tpr = np.array([((s >= t) & (y == 1)).sum() / n_pos for t in thresholds])
    fpr = np.array([((s >= t) & (y == 0)).sum() / n_neg for t in thresholds])
    return fpr, tpr, thresholds


def confusion_matrix(labels: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray):
    """[[tn, fp], [fn, tp]] as nested int lists (rows: true label, columns: predicted)."""
    y, p = _arrays(labels, predicted)
    p = p.astype(np.int64)
    return [[int(((y == t) & (p == q)).sum()) for q in (0, 1)] for t in (0, 1)]


def window_metrics(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Accuracy, precision, recall, F1 at `threshold`, ROC-AUC and the confusion matrix."""
    y, s = _arrays(labels, probs)
    pred = (s >= threshold).astype(np.int64)
    (tn, fp), (fn, tp) = confusion_matrix(y, pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "threshold": float(threshold),
        "accuracy": float((tp + tn) / len(y)) if len(y) else 0.0,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "auc": roc_auc(y, s),
        "confusion": [[tn, fp], [fn, tp]],
    }


def threshold_sweep(
    labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
    thresholds: Sequence[float] = SWEEP_THRESHOLDS,
) -> list[dict[str, float]]:
    """Precision, recall, F1 and accuracy at each threshold."""
    rows = []
    for t in thresholds:
        m = window_metrics(labels, probs, t)
        rows.append({k: m[k] for k in ("threshold", "precision", "recall", "f1", "accuracy")})
    return rows


def plot_roc(labels: Sequence[int] | np.ndarray, probs: Sequence[float] | np.ndarray,
             path: str | Path, title: str = "ROC") -> Path:
    """Write the ROC curve as a PNG (matplotlib Agg: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fpr, tpr, _ = roc_curve(labels, probs)
    auc = roc_auc(labels, probs)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUC = {auc:.3f}" if auc is not None else "AUC undefined")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_sweep(sweep: Sequence[dict[str, float]], path: str | Path,
               title: str = "threshold sweep") -> Path:
    """Write precision/recall/F1 against threshold as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row["threshold"] for row in sweep]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in ("precision", "recall", "f1"):
        ax.plot(t, [row[key] for row in sweep], marker=".", label=key)
    ax.set(xlabel="threshold", ylabel="score", ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out


def score_windows(classifier: Any, windows: Sequence[np.ndarray], batch: int = 16) -> np.ndarray:
    """p(first_crack) for each window via `classifier.predict` (any classifier backend)."""
    out = [np.asarray(classifier.predict(np.stack(windows[i : i + batch])), dtype=np.float64)
           for i in range(0, len(windows), batch)]
    return np.concatenate(out) if out else np.zeros(0)
