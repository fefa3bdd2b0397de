"""Training and selection data for the ear's head: simulated roasts cut into labelled windows.

A roast becomes a `RoastFeatures`: the ends of its windows on a fixed grid (the agent's
grid: first end at `window_s`, then every `hop_s`), the features the frozen backbone gives
each window, and a label per window:

- 1: at least one first-crack pop lies inside the window, `EDGE_S` or more from either end;
- 0: no first-crack pop and no second-crack pop in the window;
- -1 (not trained on): a pop within `EDGE_S` of an edge, or second crack.

Seeds are the only source of variety: a seed, its flags and its duration give the same
audio every time (models/sim/simulator.py), so a cache of features can be rebuilt exactly.
Real popcorn (the vendored recordings in `models/data/popcorn`, Apache-2.0) adds windows
labelled by their harvested pop times.

Invariant: the windows are cut exactly as the agent's windower cuts them, so scores cached
here replay through the detector as the live chain would score them at a fixed hop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firstcrack.models.sim.simulator import SAMPLE_RATE, RoastTruth, simulate_roast

EDGE_S = 0.05
"""A pop this close to a window's edge is cut in two; such windows are not trained on."""
POPCORN_DIR = Path(__file__).resolve().parents[1] / "data" / "popcorn"

Featurize = Callable[[np.ndarray], np.ndarray]
"""[B, samples] float32 16 kHz windows -> [B, features] float32."""


@dataclass(frozen=True)
class RoastSpec:
    """One simulated roast: seed, whether it cracks, sparse (None: drawn), duration (None:
    drawn), and the split it belongs to (train, select or test)."""

    seed: int
    crack: bool
    sparse: bool | None
    duration_s: float | None
    split: str

    @property
    def key(self) -> str:
        sparse = {None: "d", True: "s", False: "n"}[self.sparse]
        dur = "nat" if self.duration_s is None else f"{self.duration_s:g}"
        return f"{self.split}-{self.seed}-{'c' if self.crack else 'x'}{sparse}-{dur}"


@dataclass
class RoastFeatures:
    """A roast's windows: ends (s), features [n, F], labels [n] (1, 0, -1), and its truth."""

    key: str
    ends: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    onset_s: float | None
    end_s: float | None
    duration_s: float
    sparse: bool


def window_ends(n_samples: int, window_s: float, hop_s: float) -> np.ndarray:
    """The agent's fixed grid: ends at window_s, window_s + hop_s, ... within the audio."""
    duration = n_samples / SAMPLE_RATE
    count = int(np.floor((duration - window_s) / hop_s + 1e-9)) + 1
    return window_s + hop_s * np.arange(max(0, count))


def label_windows(ends: np.ndarray, window_s: float, pops: Iterable[float],
                  other_pops: Iterable[float] = ()) -> np.ndarray:
    """1 / 0 / -1 per window (see the module docstring)."""
    pops_a = np.sort(np.asarray(list(pops), dtype=np.float64))
    other = np.sort(np.asarray(list(other_pops), dtype=np.float64))
    labels = np.zeros(len(ends), np.int8)
    for i, end in enumerate(ends):
        start = end - window_s
        inner = np.count_nonzero((pops_a >= start + EDGE_S) & (pops_a <= end - EDGE_S))
        touching = np.count_nonzero((pops_a >= start - EDGE_S) & (pops_a <= end + EDGE_S))
        seconds = np.count_nonzero((other >= start - EDGE_S) & (other <= end + EDGE_S))
        if inner:
            labels[i] = 1
        if touching > inner or seconds:
            labels[i] = -1
    return labels


def cut_windows(audio: np.ndarray, ends: np.ndarray, window_s: float) -> np.ndarray:
    """[len(ends), window samples] float32 copies of the windows ending at `ends`."""
    w = int(round(window_s * SAMPLE_RATE))
    idx = np.round(ends * SAMPLE_RATE).astype(np.int64)
    return np.stack([audio[e - w:e] for e in idx]).astype(np.float32)


def featurize_all(featurize: Featurize, windows: np.ndarray, batch: int = 32) -> np.ndarray:
    parts = [featurize(windows[i:i + batch]) for i in range(0, len(windows), batch)]
    return np.concatenate(parts).astype(np.float32)


def roast_features(spec: RoastSpec, featurize: Featurize, window_s: float,
                   hop_s: float) -> RoastFeatures:
    """Simulate one roast and featurize every window on the agent's grid."""
    audio, truth = simulate_roast(spec.seed, spec.duration_s, crack=spec.crack,
                                  sparse=spec.sparse)
    return _features_of(spec.key, audio, truth, featurize, window_s, hop_s)


def _features_of(key: str, audio: np.ndarray, truth: RoastTruth, featurize: Featurize,
                 window_s: float, hop_s: float) -> RoastFeatures:
    ends = window_ends(len(audio), window_s, hop_s)
    feats = featurize_all(featurize, cut_windows(audio, ends, window_s))
    labels = label_windows(ends, window_s, truth.pop_times_s, truth.second_crack_pop_times_s)
    return RoastFeatures(key, ends, feats, labels, truth.first_crack_onset_s,
                         truth.first_crack_end_s, truth.duration,
                         bool(truth.params.get("sparse", False)))


def popcorn_features(featurize: Featurize, window_s: float, hop_s: float) -> list[RoastFeatures]:
    """The vendored popcorn recordings, windows labelled by their harvested pop times."""
    import soundfile as sf

    out = []
    for meta_file in sorted(POPCORN_DIR.glob("*.pops.json")):
        meta = json.loads(meta_file.read_text())
        audio, rate = sf.read(POPCORN_DIR / meta["audio_file"], dtype="float32")
        if rate != SAMPLE_RATE:
            raise ValueError(f"{meta_file}: expected {SAMPLE_RATE} Hz audio, got {rate}")
        ends = window_ends(len(audio), window_s, hop_s)
        feats = featurize_all(featurize, cut_windows(audio, ends, window_s))
        labels = label_windows(ends, window_s, meta["pop_times_s"])
        out.append(RoastFeatures(f"popcorn-{meta_file.stem}", ends, feats, labels, None, None,
                                 len(audio) / SAMPLE_RATE, False))
    return out


def save(path: Path, roast: RoastFeatures) -> None:
    """One roast's cache file (float16 features: the head is a linear model)."""
    np.savez(path, ends=roast.ends, features=roast.features.astype(np.float16),
             labels=roast.labels, meta=json.dumps({
                 "key": roast.key, "onset_s": roast.onset_s, "end_s": roast.end_s,
                 "duration_s": roast.duration_s, "sparse": roast.sparse}))


def load(path: Path) -> RoastFeatures:
    with np.load(path) as z:
        meta = json.loads(str(z["meta"]))
        return RoastFeatures(meta["key"], z["ends"], z["features"].astype(np.float32),
                             z["labels"], meta["onset_s"], meta["end_s"], meta["duration_s"],
                             meta["sparse"])
