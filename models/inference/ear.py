"""The pretrained ear at run time: the mn04 AudioSet backbone through onnxruntime, no torch.

`PretrainedEar` turns 16 kHz mono float32 windows [B, n] into (AudioSet logits [B, 527],
embedding [B, 384]), both float32. Logits are pre-sigmoid (AudioSet is multi-label: apply a
sigmoid per class for probabilities); the embedding is the pooled feature vector the
backbone's own head reads, the input for a small head trained on top.

The backbone was trained on 32 kHz audio; `feed` chooses how a 16 kHz capture reaches it
(both are models/inference/ear_frontend.py):
- "upsample": band-limited 2x interpolation to 32 kHz, then the trained front end;
- "mel16": the 32 kHz front end computed directly from the 16 kHz samples.
Either way the features have 1 + (2n - 1) // 320 frames (1000 for a 10 s window) and no
energy above 8 kHz. The graph is models/pretrained/mn04/mn04_backbone.onnx, written by
scripts/export_ear_backbone.py; labels come from the vendored AudioSet class list.

This module imports numpy and onnxruntime only (tests/test_ear.py checks it).
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

import numpy as np

from firstcrack.models.inference.backends import onnx_session
from firstcrack.models.inference.ear_frontend import (
    log_mel_32k,
    log_mel_from_16k,
    upsample_16k_to_32k,
)

__all__ = ["BACKBONE_ONNX", "FEEDS", "LABELS_CSV", "PretrainedEar", "audioset_labels"]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained" / "mn04"
BACKBONE_ONNX = PRETRAINED_DIR / "mn04_backbone.onnx"
LABELS_CSV = PRETRAINED_DIR / "audioset_class_labels.csv"
"""The rate of the windows `PretrainedEar` takes."""
FEEDS = ("upsample", "mel16")


@lru_cache(maxsize=1)
def _labels() -> tuple[str, ...]:
    with LABELS_CSV.open(newline="", encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle), key=lambda row: int(row["index"]))
    if [int(row["index"]) for row in rows] != list(range(len(rows))):
        raise ValueError(f"{LABELS_CSV} does not list indices 0..{len(rows) - 1} once each")
    return tuple(row["display_name"] for row in rows)


def audioset_labels() -> list[str]:
    """The 527 AudioSet class names (column display_name), in the order of the logits."""
    return list(_labels())


class PretrainedEar:
    """The mn04 backbone on 16 kHz windows; see the module docstring for the contract."""

    def __init__(self, path: str | Path = BACKBONE_ONNX, threads: int | None = None,
                 feed: str = "upsample") -> None:
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {FEEDS}, got {feed!r}")
        if not Path(path).is_file():
            raise FileNotFoundError(f"no backbone at {path}; run scripts/export_ear_backbone.py")
        self.path = Path(path)
        self.feed = feed
        self.session = onnx_session(self.path, threads)
        self.labels = audioset_labels()

    def features(self, windows: np.ndarray) -> np.ndarray:
        """[B, n] 16 kHz float windows -> log-mel float32 [B, 1, 128, 1 + (2n - 1) // 320]."""
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"windows must be [batch, samples], got shape {batch.shape}")
        if self.feed == "upsample":
            return log_mel_32k(upsample_16k_to_32k(batch))
        return log_mel_from_16k(batch)

    def run_features(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel [B, 1, 128, frames] -> (logits [B, 527], embedding [B, 384]), float32."""
        feats = np.ascontiguousarray(feats, dtype=np.float32)
        logits, embedding = self.session.run(["logits", "embedding"], {"log_mel": feats})
        return logits, embedding

    def __call__(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[B, n] 16 kHz mono float32 windows -> (logits [B, 527], embedding [B, 384])."""
        return self.run_features(self.features(windows))

    def top_labels(self, logits: np.ndarray, k: int = 5) -> list[list[str]]:
        """The k highest-scoring class names per row of `logits` [B, 527], best first."""
        order = np.argsort(-np.asarray(logits), axis=1, kind="stable")[:, :k]
        return [[self.labels[i] for i in row] for row in order]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r}, feed={self.feed!r})"
