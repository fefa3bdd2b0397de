"""Numpy front end of the pretrained mn04 ear: log-mel features as the backbone was trained on.

Contract of the 32 kHz front end (`log_mel_32k`), the one the weights expect:
- input: mono float audio at 32 kHz, shape [B, n] with n > 513 (the centring reflects 512);
- pre-emphasis y[t] = x[t + 1] - 0.97 x[t] (n - 1 samples);
- STFT, n_fft 1024, symmetric (non-periodic) Hann window of 800 samples centred in the
  1024-sample frame, hop 320, frames centred on the signal (reflect padding of 512);
- power spectrum, then 128 Kaldi-style triangular mel banks from 0 to 15 kHz with a zero
  column for the Nyquist bin (`kaldi_mel_banks`);
- log(x + 1e-5), then (x + 4.5) / 5;
- output float32 [B, 1, 128, frames], frames = 1 + (n - 1) // 320 (1000 for 10 s).
It matches the torch front end in models/training/ear_torch.py to 1e-4 absolute.

16 kHz capture has two feeds, both ending in the same [B, 1, 128, frames] layout:
- `upsample_16k_to_32k` then `log_mel_32k`: a band-limited 2x interpolation (flat to 7.2 kHz,
  -80 dB from 8 kHz), so the model sees exactly its trained front end;
- `log_mel_from_16k`: STFTs taken at 16 kHz with the same resolution in Hz (n_fft 512, hop
  160, 31.25 Hz per bin) whose windows are the 32 kHz window's even and odd samples, so that
  the result is the 32 kHz front end of the ideally upsampled clip; mapped onto the first 257
  columns of the same banks, banks above 8 kHz seeing zero power.

This module imports numpy only (no torch, no scipy): the runtime agent uses it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["HOP_32K", "N_FFT_32K", "N_MELS", "SAMPLE_RATE", "WIN_32K", "kaldi_mel_banks",
           "log_mel_32k", "log_mel_from_16k", "upsample_16k_to_32k"]

SAMPLE_RATE = 32_000
"""The rate the backbone was trained at."""
N_MELS = 128
N_FFT_32K = 1024
WIN_32K = 800
HOP_32K = 320
PREEMPHASIS = 0.97
LOG_OFFSET = 1e-5
NORM_SHIFT = 4.5
NORM_SCALE = 5.0
FMAX = 15_000.0
"""Upper edge of the mel banks at evaluation time (training jittered it)."""


def _mel(freq: np.ndarray | float) -> np.ndarray:
    """Kaldi's mel scale, 1127 ln(1 + f / 700)."""
    return 1127.0 * np.log1p(np.asarray(freq, dtype=np.float64) / 700.0)


def kaldi_mel_banks(num_bins: int = N_MELS, n_fft: int = N_FFT_32K,
                    sample_rate: int = SAMPLE_RATE, fmin: float = 0.0,
                    fmax: float = FMAX) -> np.ndarray:
    """Kaldi-style triangular mel filters, float32 [num_bins, n_fft // 2 + 1].

    Triangles are evenly spaced in the mel domain between mel(fmin) and mel(fmax), evaluated
    at the FFT bin frequencies k * sample_rate / n_fft for k < n_fft // 2 (no VTLN, no
    normalisation); the last column (the Nyquist bin) is zero, as in the trained front end.
    """
    if not 0.0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= {sample_rate / 2}, got {fmin}, {fmax}")
    half = n_fft // 2
    mel_low, mel_high = _mel(fmin), _mel(fmax)
    delta = (mel_high - mel_low) / (num_bins + 1)
    left = mel_low + delta * np.arange(num_bins, dtype=np.float64)[:, None]
    centre = left + delta
    right = centre + delta
    mel = _mel(np.arange(half, dtype=np.float64) * sample_rate / n_fft)[None, :]
    up = (mel - left) / (centre - left)
    down = (right - mel) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


_BANKS = kaldi_mel_banks().astype(np.float64)


def _hann_in_frame(win_length: int, n_fft: int) -> np.ndarray:
    """Symmetric Hann window of `win_length`, zero-padded to `n_fft` with the window centred."""
    window = np.hanning(win_length)  # symmetric: both ends are zero
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left))


def _stft(wave: np.ndarray, n_fft: int, hop: int, windows: np.ndarray) -> np.ndarray:
    """Centred STFT (reflect padding n_fft // 2) of [B, n] with each of `windows` [W, n_fft].

    Returns complex [B, W, frames, n_fft // 2 + 1] with frames = 1 + n // hop.
    """
    padded = np.pad(wave, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft, axis=-1)[:, ::hop]
    return np.fft.rfft(frames[:, None] * windows[None, :, None], axis=-1)


def _power(spec: np.ndarray) -> np.ndarray:
    """|spec|^2 with one new array (large temporaries are costly under steady_malloc)."""
    power = np.square(spec.real)
    power += np.square(spec.imag)
    return power


def _log_mel(power: np.ndarray, banks: np.ndarray) -> np.ndarray:
    """Power [B, frames, bins] -> normalised log-mel float32 [B, 1, 128, frames], contiguous."""
    mel = np.matmul(power, banks.T)
    out = (np.log(mel + LOG_OFFSET) + NORM_SHIFT) / NORM_SCALE
    return np.ascontiguousarray(np.swapaxes(out, 1, 2)[:, None], dtype=np.float32)


def _as_batch(wave: np.ndarray) -> np.ndarray:
    batch = np.asarray(wave, dtype=np.float64)
    if batch.ndim != 2 or batch.shape[1] < 2:
        raise ValueError(f"expected mono audio [B, n] with n >= 2, got shape {batch.shape}")
    return batch


def log_mel_32k(wave: np.ndarray) -> np.ndarray:
    """The backbone's features for 32 kHz audio [B, n]: float32 [B, 1, 128, 1 + (n-1)//320].

    Computed in float64 and rounded once; see the module docstring for the steps.
    """
    batch = _as_batch(wave)
    emphasised = batch[:, 1:] - PREEMPHASIS * batch[:, :-1]
    window = _hann_in_frame(WIN_32K, N_FFT_32K)[None]
    spec = _stft(emphasised, N_FFT_32K, HOP_32K, window)[:, 0]
    return _log_mel(_power(spec), _BANKS)


def log_mel_from_16k(wave16k: np.ndarray) -> np.ndarray:
    """Features for 16 kHz audio [B, n] without resampling: float32 [B, 1, 128, frames].

    Equal to `log_mel_32k` of the ideal band-limited 2x upsampling of the clip, frames =
    1 + (2n - 1) // 320, except in the bands within a few bins of 8 kHz and in the frames whose
    window reaches past the clip (the first two and the last): reflect padding applies here
    to the 16 kHz samples, there to the pre-emphasised 32 kHz ones. The 32 kHz frame sum
    over 1024 samples becomes twice a sum over the 512 samples of a 16 kHz frame (n_fft 512,
    hop 160, reflect padding 256, 31.25 Hz per bin as at 32 kHz): the 32 kHz window's even
    samples weight x[m], and pre-emphasis, which needs the odd (between-sample) points, is
    carried by a second 16 kHz STFT whose window is the 32 kHz window's odd samples, with the
    phase of the half-sample step restored per bin. The 257 bins are the first 257 columns of
    the 32 kHz banks; banks above 8 kHz see zero power, so they read log(1e-5).
    """
    batch = _as_batch(wave16k)
    n_fft = N_FFT_32K // 2
    window32 = _hann_in_frame(WIN_32K, N_FFT_32K)
    even = window32[0::2]  # weights x[m] at the 32 kHz sample 2m of the frame
    odd = np.concatenate([[0.0], window32[1:-1:2]])  # weights x[m] for the sample before it
    spectra = _stft(batch, n_fft, HOP_32K // 2, np.stack([odd, even]))
    bins = np.arange(n_fft // 2 + 1)
    shift = np.exp(1j * np.pi * bins / n_fft)
    emphasised = shift * spectra[:, 0]
    emphasised -= PREEMPHASIS * spectra[:, 1]
    emphasised *= 2.0
    frames = 1 + (2 * batch.shape[1] - 1) // HOP_32K
    return _log_mel(_power(emphasised[:, :frames]), _BANKS[:, : n_fft // 2 + 1])


UPSAMPLE_HALF_TAPS = 48
"""Input samples on each side of an output sample (a 193-tap low-pass at 32 kHz)."""
UPSAMPLE_CUTOFF_HZ = 7_550.0
UPSAMPLE_KAISER_BETA = 8.0


def _interpolation_phases(half_taps: int = UPSAMPLE_HALF_TAPS,
                          cutoff: float = UPSAMPLE_CUTOFF_HZ,
                          beta: float = UPSAMPLE_KAISER_BETA) -> np.ndarray:
    """Polyphase taps [2, 2 * half_taps + 1]: row p makes output 2m + p from x[m - L .. m + L].

    The prototype is a Kaiser-windowed sinc low-pass at 32 kHz, h(d) for |d| <= 2L; output
    2m + p is sum_e h(2e - p) x[m + e]. Each phase is scaled to unit sum (exact DC gain).
    """
    offsets = np.arange(-half_taps, half_taps + 1, dtype=np.float64)
    span = 2 * half_taps + 1
    phases = []
    for phase in (0, 1):
        d = 2 * offsets - phase
        taps = np.sinc(2 * cutoff * d / SAMPLE_RATE) * np.i0(
            beta * np.sqrt(np.clip(1.0 - (d / span) ** 2, 0.0, None))) / np.i0(beta)
        taps[np.abs(d) > 2 * half_taps] = 0.0
        phases.append(taps / taps.sum())
    return np.stack(phases)


_PHASES = _interpolation_phases()


def upsample_16k_to_32k(wave16k: np.ndarray) -> np.ndarray:
    """Band-limited 2x interpolation of 16 kHz audio [B, n] to 32 kHz float32 [B, 2n].

    A polyphase Kaiser-windowed sinc low-pass (97 taps per phase, unit gain at DC, output
    sample 2m aligned with input sample m): flat within 0.05 dB to 7.2 kHz, -4 dB at
    7.5 kHz and below -80 dB from 8 kHz, so the images of the 16 kHz capture's band, folded
    above 8 kHz, stay below -80 dB. The ends are extended by reflection, so no transient
    appears at the window edges (n must exceed 48).
    """
    batch = _as_batch(wave16k)
    half = UPSAMPLE_HALF_TAPS
    if batch.shape[1] <= half:
        raise ValueError(f"need more than {half} samples to upsample, got {batch.shape[1]}")
    padded = np.pad(batch, ((0, 0), (half, half)), mode="reflect")
    out = np.empty((batch.shape[0], 2 * batch.shape[1]), dtype=np.float32)
    for row, samples in enumerate(padded):
        for phase, taps in enumerate(_PHASES):
            out[row, phase::2] = np.convolve(samples, taps[::-1], mode="valid")
    return out
