"""Room sounds around a home roaster: an extractor hood, music, spoon taps and the clicks of
beans tumbling. Talk, doors and clanks are in ``firstcrack.models.sim.sounds``.

Spoon taps matter most: a spoon on a cup or jar is a short, bright, metallic transient,
often a few in a row, so it is the hardest thing in a kitchen to tell from a crack. Tumble
clicks are the other pop-like negative: short clicks from beans and paddles, but tied to
the rotation, so they come at a steady rate for seconds on end.

All generators return float64 at ``sr`` with peak (or, for steady sounds, RMS) 1.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from firstcrack.models.sim import sounds as snd


def spoon_taps(rng: np.random.Generator, length_s: float, sr: int) -> np.ndarray:
    """1-6 taps of a spoon on a cup, jar or pan within ``length_s`` (plus their ring).

    Each tap rings 2-5 inharmonic high-Q partials (1.5-9 kHz, decays 15-200 ms) after a
    0.2 ms click; taps repeat every 0.08-0.5 s with varying force.
    """
    ring_s = 0.25
    n = int((length_s + ring_s) * sr)
    out = np.zeros(n)
    k = int(rng.integers(2, 6))
    f = rng.uniform(1500, 9000, k)
    tau = rng.uniform(0.015, 0.2, k)
    amp = rng.uniform(0.3, 1.0, k)
    m = int(ring_s * sr)
    t = np.arange(m) / sr
    tap = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * t + rng.uniform(0, 6.3, (k, 1)))
           * np.exp(-t[None, :] / tau[:, None])).sum(0)
    tap += rng.uniform(0.3, 1.0) * rng.standard_normal(m) * np.exp(-t / 0.0002)
    at = 0.0
    for _ in range(6):
        s = int(at * sr)
        # each tap lands a little differently: detune the partials by a few per cent
        out[s:s + m] += rng.uniform(0.4, 1.0) * np.interp(
            np.arange(m) * rng.uniform(0.97, 1.03), np.arange(m), tap, right=0.0)
        at += rng.uniform(0.08, 0.5)
        if at > length_s:
            break
    return out / (np.abs(out).max() + 1e-12)


def tumble_clicks(rng: np.random.Generator, length_s: float, rate_hz: float, jitter: float,
                  sr: int) -> np.ndarray:
    """Short clicks (1-4 ms, 1.5-6 kHz) at ``rate_hz`` with timing ``jitter`` (fraction of
    the period), a fifth of them missing: beans hitting a vane, paddle or chamber wall."""
    n = int(length_s * sr)
    out = np.zeros(n)
    period = 1.0 / rate_hz
    times = np.arange(rng.uniform(0, period), length_s - 0.01, period)
    times = times + rng.normal(0, jitter * period, times.size)
    times = times[(rng.random(times.size) > 0.2) & (times >= 0)]
    m = int(0.006 * sr)
    t = np.arange(m) / sr
    fc, tau = rng.uniform(1500, 6000), rng.uniform(0.001, 0.004) / 3
    for s in (times * sr).astype(int):
        if s + m <= n:
            click = np.sin(2 * np.pi * fc * rng.uniform(0.9, 1.1) * t) * np.exp(-t / tau)
            out[s:s + m] += rng.uniform(0.3, 1.0) * (click + 0.3 * rng.standard_normal(m)
                                                      * np.exp(-t / 0.0003))
    return out / (np.abs(out).max() + 1e-12)


def _table(rng: np.random.Generator, n_harm: int, rolloff: float) -> np.ndarray:
    """One period (4096 samples) of a harmonic timbre."""
    ph = np.arange(4096) / 4096
    k = np.arange(1, n_harm + 1)
    amp = k ** -rolloff * rng.uniform(0.5, 1.0, n_harm)
    return (amp[:, None] * np.sin(2 * np.pi * k[:, None] * ph[None, :])).sum(0)


def music(rng: np.random.Generator, length_s: float, sr: int) -> np.ndarray:
    """Music from a radio or phone: a chord progression (three wavetable voices plus a bass
    line, plucked or sustained), a kick on every beat and a hi-hat on the off-beats, at
    70-150 bpm. The kick and hi-hat are transient and regular; the chords are tonal. RMS 1.

    Wavetable lookups keep a minute of music to a few tens of milliseconds.
    """
    n = int(length_s * sr)
    out = np.zeros(n)
    beat = 60.0 / rng.uniform(70, 150)
    lead, bass = _table(rng, 8, rng.uniform(0.8, 2.0)), _table(rng, 4, 1.5)
    decay = rng.uniform(0.15, 2.0)  # s: plucked to sustained
    root = 2 ** (rng.integers(-12, 12) / 12) * 220.0
    progression = rng.integers(0, 12, 4)
    hihat = rng.random() < 0.7
    b = 0
    kick_len = int(0.12 * sr)
    tk = np.arange(kick_len) / sr
    kick = np.sin(2 * np.pi * np.cumsum(50 + 70 * np.exp(-tk / 0.02)) / sr) * np.exp(-tk / 0.05)
    while b * beat < length_s:
        s, e = int(b * beat * sr), min(n, int((b + 2) * beat * sr))
        t = np.arange(e - s) / sr
        env = np.exp(-t / decay) * (1 - np.exp(-t / 0.005))
        chord_root = root * 2 ** (progression[(b // 2) % 4] / 12)
        for step, table in ((0, lead), (4, lead), (7, lead), (-12, bass)):
            ph = (chord_root * 2 ** (step / 12) * t * 4096).astype(np.int64) & 4095
            out[s:e] += (0.7 if step < 0 else 0.35) * env * table[ph]
        for beat_at in (b, b + 1):
            k0 = int(beat_at * beat * sr)
            m = min(kick_len, n - k0)
            if m > 0:
                out[k0:k0 + m] += 1.5 * kick[:m]
            h0 = int((beat_at + 0.5) * beat * sr)
            if hihat and h0 + 480 < n:
                out[h0:h0 + 480] += 0.3 * np.diff(rng.standard_normal(481)) * np.exp(
                    -np.arange(480) / (0.006 * sr))
        b += 2
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


HOOD_LOOP_S = 64.0
"""Length of the hood's noise loop, s: far longer than a model's 10 s window."""


def hood(rng: np.random.Generator, length_s: float, sr: int, mic: dict) -> np.ndarray:
    """An extractor hood: fan noise (a sloped spectrum with a broad hump) plus the fan's
    blade-pass tone and harmonics, seen through the microphone, with 1.5 s fades (switched
    on or off). RMS about 1; the microphone response is already applied.

    The noise is one inverse FFT of at most ``HOOD_LOOP_S``, repeated: the inverse FFT is
    periodic, so the seams are seamless, and a hood running through a whole roast costs a
    small fraction of a full-length FFT. The tone, whose speed wanders, is not looped.
    """
    n = int(length_s * sr)
    spec = {"airflow_knee_hz": float(rng.uniform(80, 400)),
            "airflow_slope_db_per_oct": float(rng.uniform(-7, -3)),
            "airflow_bumps": [[float(rng.uniform(150, 1500)), float(rng.uniform(3, 10)),
                               float(rng.uniform(0.3, 1.0))]]}
    loop = min(n, int(HOOD_LOOP_S * sr))
    loop = sfft.next_fast_len(loop, real=True) if loop < n else loop
    x = np.resize(snd.coloured_noise(rng, loop, sr, spec, mic, exact=True), n)
    n_ctrl = n // (sr // snd.CTRL_RATE) + 2
    f0 = rng.uniform(40, 200) * (1 + 0.002 * snd.smooth_walk(rng, n_ctrl, 4.0, snd.CTRL_RATE))
    x += 10 ** (rng.uniform(-18, -6) / 20) * snd.harmonic_tone(rng, f0, n, sr, 1.5, mic)
    fade = min(int(1.5 * sr), n // 2)
    x[:fade] *= np.linspace(0, 1, fade, dtype=np.float32)
    x[n - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
    return x.astype(np.float64)
