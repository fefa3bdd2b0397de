"""Waveform augmentation and the torch Dataset that feeds the Trainer.

Augmentation works on the 16 kHz waveform, *before* the filter bank, because
that is where a real microphone's differences live: level (gain), hiss
(white noise), where in the window the pops fall (time shift), and a
different roaster's steady noise (mixing in a no-first-crack chunk). The
feature extractor then sees exactly what it would see live.

Time shift pads by reflection rather than rolling: a roll splices the end of
the window onto its start, and that discontinuity is a click, which is the
very thing the model learns to look for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.datasets.records import Chunk
from firstcrack.models.inference.fbank import FastFbank


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges drawn uniformly per item; probabilities are per item, 0..1.

    gain_db: +/- level change, dB. noise_snr_db: white noise SNR range, dB
    (applied with noise_p). shift_s: maximum time shift either way, seconds.
    mix_snr_db: background chunk SNR range, dB (applied with mix_p).
    """

    gain_db: float = 6.0
    noise_p: float = 0.5
    noise_snr_db: tuple[float, float] = (15.0, 40.0)
    shift_s: float = 1.0
    mix_p: float = 0.5
    mix_snr_db: tuple[float, float] = (5.0, 20.0)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12


def time_shift(audio: np.ndarray, samples: int) -> np.ndarray:
    """Shift by `samples` (positive = later), reflect-padding the edge that opens up."""
    n = len(audio)
    k = int(np.clip(samples, -(n - 1), n - 1))
    if k > 0:
        return np.pad(audio, (k, 0), mode="reflect")[:n]
    if k < 0:
        return np.pad(audio, (0, -k), mode="reflect")[-k:]
    return audio


class Augmenter:
    """Draws one random augmentation per call from `config`, with its own seeded RNG.

    `backgrounds` are no-first-crack waveforms to mix in (any length >= the
    window is fine; shorter ones are tiled). An empty list disables mixing.
    """

    def __init__(
        self, config: AugmentConfig, backgrounds: Sequence[np.ndarray] = (), seed: int = 0,
        sample_rate: int = SAMPLE_RATE,
    ) -> None:
        self.config = config
        self.backgrounds = list(backgrounds)
        self.rng = np.random.default_rng(seed)
        self.sample_rate = sample_rate

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        cfg, rng = self.config, self.rng
        out = np.asarray(audio, dtype=np.float32)
        if cfg.shift_s > 0:
            limit = int(cfg.shift_s * self.sample_rate)
            out = time_shift(out, int(rng.integers(-limit, limit + 1)))
        if self.backgrounds and rng.random() < cfg.mix_p:
            bg = self.backgrounds[int(rng.integers(len(self.backgrounds)))]
            bg = np.resize(bg, len(out))  # tiles short backgrounds
            snr = rng.uniform(*cfg.mix_snr_db)
            out = out + bg * (_rms(out) / _rms(bg) * 10 ** (-snr / 20))
        if rng.random() < cfg.noise_p:
            snr = rng.uniform(*cfg.noise_snr_db)
            noise = rng.standard_normal(len(out)) * (_rms(out) * 10 ** (-snr / 20))
            out = out + noise
        if cfg.gain_db > 0:
            out = out * 10 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20)
        return np.clip(out, -1.0, 1.0).astype(np.float32)


def _fast_fbank(extractor: object) -> FastFbank | None:
    """The vectorised filter bank for `extractor` (same numbers, several times faster), or
    None when it is not a 16 kHz kaldi-style AST extractor (then the extractor itself is used).

    Augmented training featurises every item every epoch, so the filter bank, not the tiny
    model, dominates a from-scratch epoch; `models.inference.fbank` matches the extractor to float32
    rounding, which is what the live path (`models.inference.backends.FeatureFrontEnd`) uses too.
    """
    try:
        return FastFbank(extractor)
    except (AttributeError, TypeError, ValueError):
        return None


class ChunkFeatureDataset(Dataset):
    """Chunks -> `{"input_values": [frames, mel] float32 tensor, "labels": int}` items.

    Without an augmenter the features are computed once, up front (validation
    and test sets are scored every epoch; the filter bank is the slow part).
    With one, each item is augmented on the waveform and then featurised, so
    every epoch sees fresh variants.
    """

    def __init__(self, chunks: Sequence[Chunk], extractor: object,
                 augmenter: Augmenter | None = None, batch: int = 32) -> None:
        self.chunks = list(chunks)
        self.extractor = extractor
        self.augmenter = augmenter
        self.labels = torch.tensor([c.label for c in self.chunks], dtype=torch.long)
        self._cache: torch.Tensor | None = None
        self._fast = _fast_fbank(extractor)
        if augmenter is None and self.chunks:
            parts = [self._features([c.audio for c in self.chunks[i : i + batch]])
                     for i in range(0, len(self.chunks), batch)]
            self._cache = torch.cat(parts)

    def _features(self, waves: Sequence[np.ndarray]) -> torch.Tensor:
        if self._fast is not None and len({len(w) for w in waves}) == 1:
            return torch.from_numpy(self._fast(np.stack(waves).astype(np.float32, copy=False)))
        out = self.extractor(list(waves), sampling_rate=SAMPLE_RATE, return_tensors="pt")  # type: ignore[operator]
        return out["input_values"]

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self._cache is not None:
            values = self._cache[index]
        else:
            wave = self.chunks[index].audio
            if self.augmenter is not None:
                wave = self.augmenter(wave)
            values = self._features([wave])[0]
        return {"input_values": values, "labels": self.labels[index]}
