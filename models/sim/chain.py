"""The recording chain after the acoustic mix: a spaced stereo pair downmixed to mono, AGC,
clipping, the capture device's band limit and a crude lossy codec, plus the 44.1 kHz
stereo file writer. Parameters come from ``firstcrack.models.sim.domain.draw_chain``.

All functions take and return float32 mono at the simulator rate (16 kHz); the rate a
device captured at only shows as its band limit, because the agent resamples every input
to 16 kHz anyway.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import fft as sfft
from scipy import signal

from firstcrack.models.sim import sounds as snd
from firstcrack.models.sim.timeline import Stream, rng_for


def delayed(x: np.ndarray, delay_s: float, sr: int) -> np.ndarray:
    """``x`` delayed by ``delay_s`` rounded to whole samples (at least one)."""
    k = max(1, round(delay_s * sr))
    y = np.zeros_like(x)
    y[k:] = x[:x.size - k]
    return y


def stereo_downmix(x: np.ndarray, delay_ms: float, gain: float, sr: int) -> np.ndarray:
    """A source heard by two capsules ``delay_ms`` apart (the far one ``gain`` as loud),
    averaged to mono: a comb filter with its first notch at 1 / (2 delay). The delay is
    rounded to whole samples (62.5 us at 16 kHz), which keeps this to two cheap passes."""
    k = max(1, round(delay_ms / 1000 * sr))
    y = x * np.float32(1 / (1 + gain))
    y[k:] += np.float32(gain / (1 + gain)) * x[:x.size - k]
    return y


def band_limit(x: np.ndarray, capture_rate_hz: int, sr: int) -> np.ndarray:
    """The anti-alias filter of a device capturing at ``capture_rate_hz``: an 8th-order
    elliptic lowpass at 0.45x that rate (causal, as in hardware). No-op at or above ``sr``."""
    if capture_rate_hz >= sr:
        return x
    sos = signal.ellip(8, 0.5, 60, 0.45 * capture_rate_hz / (sr / 2), output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def agc(x: np.ndarray, target_dbfs: float, time_s: float, max_boost_db: float,
        strength: float, sr: int) -> tuple[np.ndarray, float]:
    """Slow automatic gain: the level in 10 ms blocks, smoothed over ``time_s`` (both ways),
    pulled ``strength`` of the way to ``target_dbfs``, boost at most ``max_boost_db`` and cut
    at most 20 dB. Returns the audio and the gain's range in dB (max - min)."""
    block = sr // snd.CTRL_RATE
    m = x.size // block
    lev = 10 * np.log10(np.mean(np.square(x[:m * block].reshape(m, block),
                                          dtype=np.float64), axis=1) + 1e-12)
    a = np.exp(-1.0 / (time_s * snd.CTRL_RATE))
    smooth = signal.lfilter([1 - a], [1, -a], lev, zi=[a * lev[0]])[0]
    gain_db = np.clip(strength * (target_dbfs - smooth), -20.0, max_boost_db)
    gain = snd.upsample_linear(10 ** (np.append(gain_db, gain_db[-1]) / 20), block, x.size)
    return x * gain, float(np.ptp(gain_db))


def clip(x: np.ndarray, soft: bool) -> tuple[np.ndarray, float]:
    """Clip at full scale, hard or as ``tanh``; returns the audio and the fraction of samples
    that reached full scale (hard) or passed 0.9 (soft)."""
    if soft:
        frac = float(np.mean(np.abs(x) > 0.9))
        return np.tanh(x), frac
    frac = float(np.mean(np.abs(x) >= 1.0))
    return np.clip(x, -1.0, 1.0), frac


def codec(x: np.ndarray, frame: int, bandwidth_hz: float, levels: int, sr: int
          ) -> np.ndarray:
    """A crude lossy codec: sqrt-Hann STFT frames of ``frame`` samples at 50 % overlap,
    bins above ``bandwidth_hz`` dropped, magnitudes quantised on an |X|^0.75 scale (as
    perceptual codecs do) with ``levels`` steps up to each frame's peak; phases kept.
    Bins under half a step vanish (spectral holes) and the error spreads over the whole
    frame (pre-echo before transients)."""
    hop = frame // 2
    n = x.size
    n_frames = -(-n // hop) + 1
    xp = np.zeros((n_frames + 1) * hop, np.float32)
    xp[hop:hop + n] = x
    w = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(frame) / frame)).astype(np.float32)
    out = np.zeros_like(xp)
    chunk = 4096  # frames per pass: keeps the spectra in cache-sized pieces
    keep = int(bandwidth_hz / sr * frame) + 1
    for c0 in range(0, n_frames, chunk):
        c1 = min(n_frames, c0 + chunk)
        frames = np.lib.stride_tricks.sliding_window_view(xp, frame)[c0 * hop:c1 * hop:hop]
        spec = sfft.rfft(frames * w, axis=1)[:, :keep]
        mag = np.abs(spec)
        comp = mag ** 0.75
        step = comp.max(axis=1, keepdims=True) / levels + 1e-20
        q = np.round(comp / step) * step
        spec *= q ** (4 / 3) / (mag + 1e-20)
        y = sfft.irfft(spec, n=frame, axis=1).astype(np.float32) * w
        seg = out[c0 * hop:(c1 + 1) * hop]
        seg[:(c1 - c0) * hop] += y[:, :hop].ravel()
        seg[hop:] += y[:, hop:].ravel()
    return out[hop:hop + n]


def mean_square(x: np.ndarray) -> float:
    """Mean of x**2 by one BLAS dot product: no 100 MB float64 temporary for a long roast,
    and float32 accumulation is far inside the 0.01 dB these levels are rounded to."""
    return float(np.dot(x, x)) / max(x.size, 1)


def finish(x: np.ndarray, p: dict, seed: int, sr: int) -> tuple[np.ndarray, dict]:
    """After the acoustic mix (and any stereo downmix): AGC, the recording level (or a too
    hot input gain), self-noise, clipping, the capture band limit and the codec, as the
    roast's ``params`` say. Returns float32 audio in [-1, 1] and what the chain measured
    (``mic_gain_db``, ``agc_gain_range_db``, ``clip_fraction``; None for stages that are
    off)."""
    measured: dict = {"agc_gain_range_db": None, "clip_fraction": None}
    if p["agc_on"]:  # rides the gain around the roast's own level; the level is set after
        own_db = 10 * math.log10(mean_square(x) + 1e-24)
        x, rng_db = agc(x, own_db, p["agc_time_s"], p["agc_max_boost_db"],
                              p["agc_strength"], sr)
        measured["agc_gain_range_db"] = round(rng_db, 2)
    rms = float(np.sqrt(mean_square(x)))
    peak = float(np.abs(x).max())
    gain = min(10 ** (p["target_level_dbfs"] / 20) / rms, 0.97 / peak)
    if p["clip_on"]:  # input gain too hot: the loudest peak overshoots full scale
        gain = min(10 ** (p["clip_overdrive_db"] / 20) / peak, 10 ** (-12 / 20) / rms)
    x *= np.float32(gain)
    measured["mic_gain_db"] = round(20 * math.log10(gain), 2)
    noise_rng = rng_for(seed, Stream.SELF_NOISE)
    x += 10 ** (p["self_noise_dbfs"] / 20) * noise_rng.standard_normal(x.size, dtype=np.float32)
    if p["clip_on"]:
        x, frac = clip(x, p["clip_soft"])
        measured["clip_fraction"] = round(frac, 6)
    x = band_limit(x, p["capture_rate_hz"], sr)
    if p["codec_on"]:
        x = codec(x, p["codec_frame"], p["codec_bandwidth_hz"], p["codec_levels"], sr)
    np.clip(x, -1.0, 1.0, out=x)
    return x.astype(np.float32, copy=False), measured


def stereo_file(x: np.ndarray, sr: int, out_rate: int, channels: int) -> np.ndarray:
    """The simulated mono audio as a file's (frames, channels) array at ``out_rate``.

    For two channels the capsules differ by 0.2 ms: left = x + d and right = x - d with
    d = 0.25 (x delayed - x), so a plain downmix gives back ``x`` exactly.
    """
    if out_rate != sr:
        g = int(np.gcd(out_rate, sr))
        x = signal.resample_poly(x, out_rate // g, sr // g).astype(np.float32)
    if channels == 1:
        return np.clip(x, -1.0, 1.0)[:, None]
    d = np.float32(0.25) * (delayed(x, 0.0002, out_rate) - x)
    return np.clip(np.stack([x + d, x - d], axis=1), -1.0, 1.0)
