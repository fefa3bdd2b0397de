"""Fast and incremental log-mel features, equal to `ASTFeatureExtractor`'s numpy path.

`ASTFeatureExtractor` (without torchaudio, as here) computes a kaldi-style
filter bank: 25 ms frames (400 samples) every 10 ms (160 samples), no
centring, per-frame DC removal, pre-emphasis 0.97 inside the frame, a
symmetric Hann window (what AST asks torchaudio for: `window_type="hanning"`),
a 512-point power spectrum, kaldi mel filters (20 Hz to Nyquist), natural log
with a floor of 2^-23, zero padding (after the log) or truncation to
`max_length` frames, then AST's `(x - mean) / (2 * std)`. Dither is 0.

It takes ~90 ms per 10 s window because it loops frame by frame in Python.
`FastFbank` does the same arithmetic on all frames at once (~10 ms), and
`IncrementalFbank` keeps the frames of the previous window: each frame depends
only on its own 400 samples, so when consecutive windows are whole frame
shifts apart, only the frames at the new end need computing (a 1 s hop
computes 100 of 998 frames). Results equal `ASTFeatureExtractor` to float32
rounding (tests/test_fbank.py holds both equalities).

Both are built from a `FeatureConfig` (models/inference/features.py), so neither needs
transformers; the mel filters and the window are our own numpy (bit-identical
to the extractor's). An `ASTFeatureExtractor` is still accepted in place of the
config (training holds one): only its configuration is read, never its arrays.
"""

from __future__ import annotations

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.inference.features import (
    FFT_LENGTH,
    FRAME_LENGTH,
    FRAME_SHIFT,
    FeatureConfig,
    hann_window,
    kaldi_mel_filters,
)

PREEMPHASIS = 0.97
FRAME_BLOCK = 128
"""Frames computed together (see `FastFbank.frames`)."""
MEL_FLOOR = 1.192092955078125e-07
"""float32 epsilon, the floor before the log (kaldi's)."""

__all__ = ["FFT_LENGTH", "FRAME_LENGTH", "FRAME_SHIFT", "FastFbank", "FbankError",
           "IncrementalFbank", "as_feature_config"]


class FbankError(ValueError):
    """Bad input to the filter bank (wrong sample rate or shape)."""


def as_feature_config(source: FeatureConfig | object) -> FeatureConfig:
    """`source` itself, or the configuration of an `ASTFeatureExtractor`-like object."""
    return source if isinstance(source, FeatureConfig) else FeatureConfig.from_extractor(source)


class FastFbank:
    """Vectorised AST features for one feature configuration.

    `config` is a `FeatureConfig` (read from the model's preprocessor_config.json)
    or an `ASTFeatureExtractor`, whose configuration is read. Only 16 kHz is
    accepted: the 400/160-sample framing is 25 ms / 10 ms only there, and every
    audio source of the agent delivers 16 kHz.
    """

    def __init__(self, config: FeatureConfig | object) -> None:
        self.config = cfg = as_feature_config(config)
        self.sample_rate = cfg.sampling_rate
        if self.sample_rate != SAMPLE_RATE:
            raise FbankError(f"AST features are defined at 16 kHz, not {self.sample_rate} Hz")
        self.max_length = cfg.max_length
        self.num_mel_bins = cfg.num_mel_bins
        self.do_normalize = cfg.do_normalize
        self.mean = cfg.mean
        self.std = cfg.std
        self._filters = kaldi_mel_filters(self.num_mel_bins, self.sample_rate)  # [257, mel]
        self._window = hann_window(FRAME_LENGTH)  # [400]
        self._pad_value = self._normalize(np.zeros(1, dtype=np.float64))[0]

    def _normalize(self, logmel: np.ndarray) -> np.ndarray:
        if not self.do_normalize:
            return logmel
        return (logmel - self.mean) / (self.std * 2)

    @staticmethod
    def n_frames(n_samples: int) -> int:
        """Frames a signal of `n_samples` yields (no centring, no partial frame)."""
        return 0 if n_samples < FRAME_LENGTH else 1 + (n_samples - FRAME_LENGTH) // FRAME_SHIFT

    def frames(self, samples: np.ndarray, first: int = 0, count: int | None = None) -> np.ndarray:
        """Normalised log-mel rows for frames `first .. first+count-1` of `samples`.

        Returns [count, mel] float64; `count` None means up to the last whole frame.
        Frames are computed FRAME_BLOCK at a time: every row depends on its own
        frame only, so the result is the same, and the float64 intermediates of a
        whole window (about 20 MB, a tenth of the demo agent's memory) never exist
        at once.
        """
        x = np.asarray(samples, dtype=np.float64)
        total = self.n_frames(len(x))
        count = total - first if count is None else count
        out = np.empty((max(0, count), self.num_mel_bins), dtype=np.float64)
        for lo in range(0, max(0, count), FRAME_BLOCK):
            n = min(FRAME_BLOCK, count - lo)
            start = (first + lo) * FRAME_SHIFT
            span = x[start : start + (n - 1) * FRAME_SHIFT + FRAME_LENGTH]
            out[lo : lo + n] = self._block(span)
        return out

    def _block(self, span: np.ndarray) -> np.ndarray:
        """Every whole frame of `span` (float64 samples) -> normalised log-mel rows."""
        view = np.lib.stride_tricks.sliding_window_view(span, FRAME_LENGTH)[::FRAME_SHIFT]
        frames = view - view.mean(axis=1, keepdims=True)  # remove_dc_offset
        emph = np.empty_like(frames)
        emph[:, 1:] = frames[:, 1:] - PREEMPHASIS * frames[:, :-1]
        emph[:, 0] = frames[:, 0] * (1 - PREEMPHASIS)
        spec = np.fft.rfft(emph * self._window, n=FFT_LENGTH, axis=1)
        power = spec.real**2 + spec.imag**2
        mel = np.maximum(MEL_FLOOR, power @ self._filters)
        return self._normalize(np.log(mel))

    def assemble(self, rows: np.ndarray) -> np.ndarray:
        """Pad (with the normalised zero, as AST does) or truncate rows to `max_length`."""
        out = np.full((self.max_length, self.num_mel_bins), self._pad_value, dtype=np.float32)
        n = min(len(rows), self.max_length)
        out[:n] = rows[:n]
        return out

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """[B, samples] (or [samples]) 16 kHz float -> [B, max_length, mel] float32."""
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2:
            raise FbankError(f"windows must be [batch, samples], got shape {batch.shape}")
        out = np.empty((len(batch), self.max_length, self.num_mel_bins), dtype=np.float32)
        for i, window in enumerate(batch):
            out[i] = self.assemble(self.frames(window, 0, min(self.max_length, self.n_frames(
                len(window)))))
        return out


class IncrementalFbank:
    """AST features for a stream of overlapping windows, recomputing only new frames.

    `features(samples)` remembers the last window and its frames. If the new
    window is the old one shifted by a whole number of frame shifts (160
    samples), which is what a sliding window at any hop of whole 10 ms steps
    gives, the overlap is found by comparing the audio itself and those
    frames are reused: each frame depends only on its own 400 samples, so the
    reused rows are exactly the rows a full recompute would give. Anything
    else (a jump, a new stream, an odd offset) recomputes the whole window.
    Matching on content rather than on stream positions keeps the contract
    `samples in, features out`, so no caller has to pass positions around.

    `reused_frames` and `computed_frames` count the work, for `bench`.
    """

    def __init__(self, config: FeatureConfig | object) -> None:
        self.full = FastFbank(config)
        self._samples: np.ndarray | None = None
        self._rows: np.ndarray | None = None  # [n_frames, mel] float64
        self.reused_frames = 0
        self.computed_frames = 0

    def reset(self) -> None:
        self._samples = self._rows = None

    def features(self, samples: np.ndarray) -> np.ndarray:
        """[samples] 16 kHz float -> [max_length, mel] float32, reusing the last window's frames."""
        x = np.array(samples, dtype=np.float32).reshape(-1)  # a copy: callers may reuse buffers
        n = min(self.full.max_length, self.full.n_frames(len(x)))
        shift = self._shift(x)
        fb = self.full
        if shift is None or self._rows is None:
            rows = fb.frames(x, 0, n)
            self.computed_frames += n
        else:
            skip = shift // FRAME_SHIFT
            keep = max(0, min(len(self._rows) - skip, n))
            fresh = fb.frames(x, keep, n - keep)
            rows = np.concatenate((self._rows[skip : skip + keep], fresh)) if keep else fresh
            self.reused_frames += keep
            self.computed_frames += n - keep
        self._samples, self._rows = x, rows
        return fb.assemble(rows)

    def _shift(self, x: np.ndarray) -> int | None:
        """Smallest d (a multiple of FRAME_SHIFT) with prev[d:] == x[:-d], or None."""
        prev = self._samples
        if prev is None or len(prev) != len(x) or len(x) < FRAME_LENGTH:
            return None
        blocks = len(x) // FRAME_SHIFT
        starts = prev[: blocks * FRAME_SHIFT].reshape(blocks, FRAME_SHIFT)
        candidates = np.flatnonzero((starts == x[:FRAME_SHIFT]).all(axis=1)) * FRAME_SHIFT
        for d in candidates:
            if np.array_equal(prev[d:], x[: len(x) - d]):
                return int(d)
        return None
