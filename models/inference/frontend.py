"""The feature front end every backend shares: raw 16 kHz windows -> normalised log-mel.

It is built from a `FeatureConfig` (models/inference/features.py) alone, so the ONNX path needs
neither torch nor transformers. An `ASTFeatureExtractor` may be given as well; only
then is the "extractor" mode (transformers' own, frame-by-frame implementation)
available: `bench` times it as the published agent's baseline, and the torch backend
falls back to it for a configuration our filter bank does not cover (not 16 kHz).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from firstcrack.models.inference.fbank import FastFbank, IncrementalFbank, as_feature_config
from firstcrack.models.inference.features import FeatureConfig

MAX_WINDOW_SECONDS = 10.0
"""Seconds. The published checkpoint was trained on 10 s chunks padded up to its
1024-frame input, so a window is never longer than 10 s even when the model's
input has room for a little more."""

MAX_STREAMS = 16
"""Incremental feature states kept: one per roaster on a shared model."""


class FeatureFrontEnd:
    """Raw 16 kHz windows -> [B, max_length, num_mel_bins] normalised log-mel frames.

    Windows shorter than `window_samples` are zero-padded (in frames, after the
    filter bank) and longer ones truncated to `max_length` frames, so any length
    is accepted; only the first `max_length` x 10 ms of a long window is heard.

    `mode` picks the implementation of the same numbers (models/inference/fbank.py):
    "incremental" (default: a single window reuses the frames it shares with
    the previous one), "fast" (vectorised, every frame recomputed) or
    "extractor" (`ASTFeatureExtractor` itself, ~5-10x slower; only when one was
    given). They agree to float32 rounding.
    """

    MODES = ("incremental", "fast", "extractor")

    def __init__(self, config: FeatureConfig, extractor: object | None = None) -> None:
        self.config = config
        self.extractor = extractor
        self._lock = threading.Lock()
        self._streams: dict[str, IncrementalFbank] = {}
        self.fast: FastFbank | None = None
        self.incremental: IncrementalFbank | None = None
        try:
            self.fast = FastFbank(config)
        except ValueError:
            if extractor is None:  # nothing else could compute these features
                raise
        if self.fast is not None:
            # The state of the unnamed stream (a caller with one audio stream).
            self.incremental = self._streams[""] = IncrementalFbank(config)
        self.mode = "incremental" if self.fast is not None else "extractor"
        self.sample_rate: int = config.sampling_rate
        self.num_mel_bins: int = config.num_mel_bins
        self.max_length: int = config.max_length
        self.window_samples: int = min(
            self.max_length * config.hop_samples, int(MAX_WINDOW_SECONDS * self.sample_rate)
        )

    @classmethod
    def from_extractor(cls, extractor: object) -> FeatureFrontEnd:
        """A front end with the extractor's configuration and its "extractor" mode."""
        return cls(as_feature_config(extractor), extractor=extractor)

    @property
    def streams(self) -> dict[str, IncrementalFbank]:
        """The incremental feature state of each audio stream, by key (a copy)."""
        with self._lock:
            return dict(self._streams)

    def _stream(self, key: str) -> IncrementalFbank:
        """The incremental state of stream `key`, made on first use; the least recently
        made is forgotten beyond MAX_STREAMS (it would only cost a full recompute)."""
        stream = self._streams.get(key)
        if stream is None:
            if len(self._streams) >= MAX_STREAMS:
                oldest = next(k for k in self._streams if k != "")
                del self._streams[oldest]
            stream = self._streams[key] = IncrementalFbank(self.config)
        return stream

    def features(self, windows: np.ndarray, streams: Sequence[str] | None = None) -> np.ndarray:
        """[B, samples] float32 at `sample_rate` -> [B, max_length, num_mel_bins] float32.

        A 1-D array is taken as a batch of one. `streams` names each window's
        audio stream (a roaster's id): in "incremental" mode a window reuses
        the frames it shares with the previous window of the same stream.
        Without it, every window is taken as the next of one unnamed stream
        (a window that does not continue it is simply computed in full).
        """
        batch = np.asarray(windows, dtype=np.float32)
        if batch.ndim == 1:
            batch = batch[None, :]
        if batch.ndim != 2:
            raise ValueError(f"windows must be [batch, samples], got shape {batch.shape}")
        keys = list(streams) if streams is not None else [""] * batch.shape[0]
        if len(keys) != batch.shape[0]:
            raise ValueError(f"{len(keys)} stream keys for {batch.shape[0]} windows")
        if batch.shape[0] == 0:
            return np.zeros((0, self.max_length, self.num_mel_bins), dtype=np.float32)
        if self.mode == "extractor":
            if self.extractor is None:
                raise ValueError("the 'extractor' feature mode needs an ASTFeatureExtractor")
            out = self.extractor(  # type: ignore[operator]
                list(batch), sampling_rate=self.sample_rate, return_tensors="np"
            )
            return np.asarray(out["input_values"], dtype=np.float32)
        if self.fast is None:
            raise ValueError(f"the {self.mode!r} feature mode needs a 16 kHz configuration")
        if self.mode == "incremental" and self.incremental is not None:
            with self._lock:
                return np.stack([self._stream(k).features(x)
                                 for k, x in zip(keys, batch, strict=True)])
        return self.fast(batch)
