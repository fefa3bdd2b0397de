"""Building 10 s windows out of short clips: splices, cross-faded joins, sliding windows.

All audio is float32 mono at 16 kHz; offsets and lengths are in samples. Used by
`firstcrack.models.evaluation.clips` to put real 2 s crack clips into windows the model can score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def splice(bed: np.ndarray, clip: np.ndarray, offset: int, fade: int) -> np.ndarray:
    """A copy of `bed` with `clip` replacing bed[offset:offset+len(clip)].

    `fade` samples at each end of the clip cross-fade with a raised cosine, so neither
    join is a step (a step is itself a click the model could hear). A bed of zeros pads.
    """
    n = len(clip)
    f = max(0, min(fade, n // 2))
    w = np.ones(n, np.float32)
    if f:
        w[:f], w[n - f:] = ramp(f), ramp(f)[::-1]
    out = np.array(bed, dtype=np.float32, copy=True)
    out[offset:offset + n] = out[offset:offset + n] * (1.0 - w) + clip * w
    return out


def ramp(n: int) -> np.ndarray:
    """A raised-cosine rise over `n` samples, 0 -> 1 (exclusive at both ends)."""
    return (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)


def concat(parts: Sequence[np.ndarray], fade: int) -> np.ndarray:
    """Clips laid end to end, each join an overlap-add cross-fade of `fade` samples."""
    out = parts[0]
    for a in parts[1:]:
        f = min(fade, len(out), len(a))
        mid = out[len(out) - f:] * (1 - ramp(f)) + a[:f] * ramp(f)
        out = np.concatenate([out[:len(out) - f], mid, a[f:]])
    return out


def slide(audio: np.ndarray, window: int, hop: int) -> list[np.ndarray]:
    """Windows (views, no copies) of `window` samples every `hop` samples."""
    return [audio[s:s + window] for s in range(0, len(audio) - window + 1, hop)]


def stratified_offsets(rng: np.random.Generator, k: int, span: int) -> np.ndarray:
    """One offset drawn uniformly in each of `k` equal slices of [0, span] samples."""
    return ((np.arange(k) + rng.random(k)) / k * span).astype(np.int64)
