"""The shipped ear as a first-crack classifier: frozen AudioSet backbone + a linear head.

A model folder of this kind holds:

- `ear.json`: `{"format": "firstcrack-ear", "version": 1, "backbone": "backbone.onnx",
  "feed": "upsample" | "mel16", "window_s": 2.0, "features": "embedding" | "logits" |
  "both", "head": {"mean": [...], "scale": [...], "weights": [...], "bias": b}}`;
- the backbone ONNX named there (models/inference/ear.py: 16 kHz windows -> AudioSet logits and a
  384-d embedding);
- `detection_profile.json` (models/inference/profile.py), and a model card (`README.md`).

`EarClassifier` has the scorer interface of every backend: `predict(windows, streams)`
gives p(first_crack) per 16 kHz window as float32 in [0, 1]. `features()` is the
backbone part, `predict_features()` the head, so a cache of features scores exactly as
the live path does. The head is `sigmoid(((x - mean) / scale) . weights + bias)`, where
x is the chosen features: the embedding, the AudioSet logits, or both concatenated
(embedding first).

Invariant: torch-free. Only numpy and onnxruntime are imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.inference.ear import FEEDS, PretrainedEar
from firstcrack.models.inference.profile import PUBLISHED_PROFILE, DetectionProfile

EAR_FILE = "ear.json"
FORMAT = "firstcrack-ear"
FEATURE_SETS = ("embedding", "logits", "both")
EMBEDDING_DIM = 384
N_CLASSES = 527
BATCH = 4
"""Windows per backbone call."""


class EarFormatError(ValueError):
    """An `ear.json` that cannot be used; the message names the file and the key."""


def ear_features(logits: np.ndarray, embedding: np.ndarray) -> np.ndarray:
    """The full feature row the head chooses from: [embedding (384), logits (527)]."""
    return np.concatenate([embedding, logits], axis=1).astype(np.float32)


def select_features(full: np.ndarray, feature_set: str) -> np.ndarray:
    """Columns of `ear_features` rows that a head of `feature_set` reads."""
    if feature_set == "embedding":
        return full[:, :EMBEDDING_DIM]
    if feature_set == "logits":
        return full[:, EMBEDDING_DIM:]
    return full


@dataclass(frozen=True)
class LinearHead:
    """Standardise, then logistic regression (see the module docstring)."""

    feature_set: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logit(self, full: np.ndarray) -> np.ndarray:
        x = (select_features(full, self.feature_set) - self.mean) / self.scale
        return x.astype(np.float64) @ self.weights.astype(np.float64) + self.bias

    def predict(self, full: np.ndarray) -> np.ndarray:
        """[B, 911] ear features -> [B] p(first_crack) float32."""
        z = np.clip(self.logit(full), -60.0, 60.0)
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist(), "bias": float(self.bias)}

    @classmethod
    def from_json(cls, feature_set: str, data: Any, file: Path) -> LinearHead:
        width = {"embedding": EMBEDDING_DIM, "logits": N_CLASSES,
                 "both": EMBEDDING_DIM + N_CLASSES}[feature_set]
        if not isinstance(data, dict):
            raise EarFormatError(f"{file}: 'head' must be an object")
        arrays = {}
        for key in ("mean", "scale", "weights"):
            try:
                value = np.asarray(data[key], dtype=np.float32)
            except (KeyError, TypeError, ValueError):
                raise EarFormatError(f"{file}: 'head.{key}' must be a list of numbers") from None
            if value.shape != (width,) or not np.all(np.isfinite(value)):
                raise EarFormatError(f"{file}: 'head.{key}' must hold {width} finite numbers "
                                     f"for features '{feature_set}'")
            arrays[key] = value
        if np.any(arrays["scale"] <= 0):
            raise EarFormatError(f"{file}: 'head.scale' must be positive")
        bias = data.get("bias")
        if isinstance(bias, bool) or not isinstance(bias, int | float):
            raise EarFormatError(f"{file}: 'head.bias' must be a number")
        return cls(feature_set, arrays["mean"], arrays["scale"], arrays["weights"], float(bias))


@dataclass(frozen=True)
class EarSpec:
    """A parsed `ear.json`."""

    backbone: Path
    feed: str
    window_s: float
    head: LinearHead
    second_crack: LinearHead | None = None
    """The optional second-crack head on the same features (ear.json's `second_crack`)."""


def read_ear_spec(folder: Path) -> EarSpec:
    """Parse and check `folder/ear.json`; raises EarFormatError naming the key."""
    file = folder / EAR_FILE
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EarFormatError(f"{file}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EarFormatError(f"{file}: not a '{FORMAT}' model description")
    if data.get("version") != 1:
        raise EarFormatError(f"{file}: unsupported version {data.get('version')!r} (expected 1)")
    if data.get("feed") not in FEEDS:
        raise EarFormatError(f"{file}: 'feed' must be one of {', '.join(FEEDS)}")
    if data.get("features") not in FEATURE_SETS:
        raise EarFormatError(f"{file}: 'features' must be one of {', '.join(FEATURE_SETS)}")
    window_s = data.get("window_s")
    if isinstance(window_s, bool) or not isinstance(window_s, int | float) or not (
            1.0 <= window_s <= 30.0):
        raise EarFormatError(f"{file}: 'window_s' must be a number of seconds within 1..30")
    backbone = folder / str(data.get("backbone", ""))
    if not backbone.is_file():
        raise EarFormatError(f"{file}: the backbone '{data.get('backbone')}' is not in {folder}")
    head = LinearHead.from_json(data["features"], data.get("head"), file)
    second = data.get("second_crack")
    if second is not None:
        if not isinstance(second, dict) or second.get("features") not in FEATURE_SETS:
            raise EarFormatError(f"{file}: 'second_crack' must name its 'features' and 'head'")
        second = LinearHead.from_json(second["features"], second.get("head"), file)
    return EarSpec(backbone, data["feed"], float(window_s), head, second)


def write_ear_spec(folder: Path, backbone: str, feed: str, window_s: float,
                   head: LinearHead, second_crack: LinearHead | None = None) -> Path:
    file = folder / EAR_FILE
    data = {"format": FORMAT, "version": 1, "backbone": backbone, "feed": feed,
            "window_s": window_s, "features": head.feature_set, "head": head.to_json()}
    if second_crack is not None:
        data["second_crack"] = {"features": second_crack.feature_set,
                                "head": second_crack.to_json()}
    file.write_text(json.dumps(data) + "\n")
    return file


class EarClassifier:
    """The ear as a scorer: 16 kHz windows in, p(first_crack) out (module docstring)."""

    backend = "onnx"
    architecture = "ear"
    profile: DetectionProfile = PUBLISHED_PROFILE  # set by the loader from the folder
    second_crack_profile: DetectionProfile | None = None  # second_crack_profile.json

    def __init__(self, name: str, spec: EarSpec, threads: int | None = None,
                 ear: PretrainedEar | None = None) -> None:
        self.name = name
        self.spec = spec
        self.ear = ear or PretrainedEar(spec.backbone, threads=threads, feed=spec.feed)
        self.sample_rate = SAMPLE_RATE
        self.window_samples = int(round(spec.window_s * SAMPLE_RATE))
        self.onnx_path = spec.backbone

    def features(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        """[B, samples] windows -> [B, 911] ear features (`ear_features`); stateless."""
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"windows must be [batch, samples], got shape {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, EMBEDDING_DIM + N_CLASSES), np.float32)
        # A few windows at a time: the spectra of a large batch (a file scored at full speed)
        # would otherwise dominate the agent's peak memory.
        return np.concatenate([ear_features(*self.ear(batch[i:i + BATCH]))
                               for i in range(0, len(batch), BATCH)])

    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        return self.spec.head.predict(np.asarray(feats, dtype=np.float32))

    def predict(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        return self.predict_features(self.features(windows, streams))

    @property
    def hears_second_crack(self) -> bool:
        return self.spec.second_crack is not None and self.second_crack_profile is not None

    def predict_heads(self, windows: np.ndarray, streams: Sequence[str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray | None]:
        """(p(first_crack), p(second_crack) or None) per window, from one backbone pass."""
        feats = self.features(windows, streams)
        second = self.spec.second_crack if self.hears_second_crack else None
        return (self.predict_features(feats),
                None if second is None else second.predict(feats))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, window_s={self.spec.window_s:g})"
