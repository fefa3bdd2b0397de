"""The feature configuration of an AST model, and its filter bank, without transformers.

A model's `preprocessor_config.json` (written by `ASTFeatureExtractor.save_pretrained`)
holds everything the log-mel front end needs: sample rate, mel bins, frames, and the
normalisation. Reading it with plain `json` instead of `ASTFeatureExtractor.from_pretrained`
is what lets the ONNX runtime path run with neither torch nor transformers installed:
the extractor class itself imports torch.

The two arrays the extractor builds at construction are rebuilt here in numpy:

- the kaldi mel filter bank: `num_mel_bins` triangles between 20 Hz and Nyquist, equally
  spaced on kaldi's mel scale (1127 ln(1 + f/700)), and triangular *in mel*: each FFT
  bin's weight is computed from the bin's own mel value, not from its frequency. That is
  torchaudio's `kaldi.fbank`, which the published AST was trained with, and what
  transformers' numpy path imitates (`mel_filter_bank(..., mel_scale="kaldi",
  triangularize_in_mel_space=True, norm=None)`). The arithmetic below follows the same
  order of float64 operations, so the result is bit-identical (tests/test_fbank.py).
- the window: a *symmetric* 400-point Hann window (`np.hanning`), what AST asks
  torchaudio for with `window_type="hanning"`.

With 128 mel bins over a 512-point FFT the lowest triangles fall between FFT bins and
are all zero; the original AST was trained that way, so no warning is raised for it.
"""

from __future__ import annotations

import json
import numbers
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE

FRAME_LENGTH = 400
"""Samples per frame (25 ms at 16 kHz)."""
FRAME_SHIFT = 160
"""Samples between frame starts (10 ms at 16 kHz)."""
FFT_LENGTH = 512
"""Points of the FFT (the 400-sample frame is zero-padded to it)."""
LOW_HZ = 20.0
"""The lowest mel edge (kaldi's default low-freq, and the extractor's `min_frequency`)."""

AST_EXTRACTOR = "ASTFeatureExtractor"


class FeatureConfigError(ValueError):
    """A preprocessor config this front end cannot reproduce (the message names the key)."""


@dataclass(frozen=True)
class FeatureConfig:
    """What turns 16 kHz audio into one AST model's input, read from preprocessor_config.json.

    Defaults are `ASTFeatureExtractor`'s own, so a config file that omits a key means
    what it means to transformers (the published AST layout: 128 bins, 1024 frames,
    AudioSet mean and std). `padding_value`, `padding_side` and `return_attention_mask`
    are not kept: the AST extractor pads the log-mel frames with zeros before
    normalising, whatever `padding_value` says, and never returns a mask to a classifier.
    """

    sampling_rate: int = SAMPLE_RATE
    num_mel_bins: int = 128
    max_length: int = 1024
    """Frames of 10 ms the model takes (shorter input is padded, longer truncated)."""
    mean: float = -4.2677393
    std: float = 4.5689974
    do_normalize: bool = True
    """Whether features become `(logmel - mean) / (2 * std)` (AST's own scaling)."""
    feature_size: int = 1
    """Channels per sample; 1 (mono) is the only value AST defines."""

    def __post_init__(self) -> None:
        for name in ("sampling_rate", "num_mel_bins", "max_length"):
            if getattr(self, name) < 1:
                raise FeatureConfigError(f"{name} must be a positive integer, got "
                                         f"{getattr(self, name)}")
        if self.feature_size != 1:
            raise FeatureConfigError(f"feature_size must be 1 (mono), got {self.feature_size}")
        if self.do_normalize and not self.std > 0:
            raise FeatureConfigError(f"std must be > 0, got {self.std}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "preprocessor config") -> FeatureConfig:
        """Keep the keys this front end uses; refuse another extractor type or a bad value."""
        kind = data.get("feature_extractor_type", AST_EXTRACTOR)
        if kind != AST_EXTRACTOR:
            raise FeatureConfigError(
                f"{source}: feature_extractor_type is {kind!r}; only {AST_EXTRACTOR} features "
                "are computed here"
            )
        types = {"sampling_rate": int, "num_mel_bins": int, "max_length": int,
                 "mean": float, "std": float, "do_normalize": bool, "feature_size": int}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            want = types[f.name]
            ok = isinstance(raw, (bool, np.bool_)) if want is bool else (
                isinstance(raw, numbers.Real) and not isinstance(raw, (bool, np.bool_))
                and (want is float or float(raw).is_integer())
            )
            if not ok:
                raise FeatureConfigError(f"{source}: {f.name} must be {want.__name__}, got {raw!r}")
            values[f.name] = want(raw)
        try:
            return cls(**values)
        except FeatureConfigError as exc:
            raise FeatureConfigError(f"{source}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> FeatureConfig:
        """Read a `preprocessor_config.json` (plain JSON; transformers is not needed)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FeatureConfigError(f"{path}: unreadable ({exc})") from exc
        if not isinstance(data, dict):
            raise FeatureConfigError(f"{path}: not a JSON object")
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_extractor(cls, extractor: object) -> FeatureConfig:
        """The same configuration, read from an `ASTFeatureExtractor` (or any object with
        the same attributes); for the torch backend and training, which hold one already."""
        names = [f.name for f in fields(cls)]
        data = {name: getattr(extractor, name) for name in names if hasattr(extractor, name)}
        return cls.from_dict(data, source=type(extractor).__name__)

    @property
    def hop_samples(self) -> int:
        """Samples per 10 ms frame shift at this sample rate."""
        return self.sampling_rate // 100


def kaldi_mel(hz: float | np.ndarray) -> np.ndarray:
    """Kaldi's (and HTK's natural-log) mel scale: 1127 ln(1 + f / 700), in float64."""
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def kaldi_mel_filters(
    num_mel_bins: int,
    sample_rate: int = SAMPLE_RATE,
    fft_length: int = FFT_LENGTH,
    low_hz: float = LOW_HZ,
    high_hz: float | None = None,
) -> np.ndarray:
    """[fft_length // 2 + 1, num_mel_bins] float64 weights: power spectrum -> mel energies.

    Triangle m rises from edge m to edge m+1 and falls to edge m+2, the
    `num_mel_bins + 2` edges equally spaced in mel from `low_hz` to `high_hz`
    (default: Nyquist, as an integer like the extractor's `sampling_rate // 2`).
    Each FFT bin k (at k * sample_rate / fft_length Hz) is placed on the triangle by
    its mel value; bins outside a triangle weigh 0.
    """
    top = sample_rate // 2 if high_hz is None else high_hz
    edges = np.linspace(kaldi_mel(low_hz), kaldi_mel(top), num_mel_bins + 2)
    bins = kaldi_mel(sample_rate / fft_length * np.arange(fft_length // 2 + 1))[:, None]
    widths = np.diff(edges)
    rising = (bins - edges[None, :-2]) / widths[:-1]
    falling = (edges[None, 2:] - bins) / widths[1:]
    return np.maximum(0.0, np.minimum(rising, falling))


def hann_window(length: int = FRAME_LENGTH) -> np.ndarray:
    """The symmetric Hann window (both ends 0), float64: kaldi's "hanning" frame window."""
    return np.hanning(length)
