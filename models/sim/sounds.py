"""Sound synthesis for the roast simulator: steady roaster noise, pops and distractors.

Everything is vectorised numpy/scipy so that a 15-minute roast renders in about a second:
coloured noise is shaped in one inverse FFT, motor harmonics are read from a one-period
wavetable, slow controls (level drift, drum tumble, fan speed) run at ``CTRL_RATE`` and are
interpolated, and all pops of a roast are synthesised as one matrix (other pop families and
the real popcorn pops are in ``models.sim.pops``; room sounds in ``models.sim.room``).

The microphone is applied where each sound is made (noise spectrum, wavetable harmonics,
an impulse response for transients) rather than by one full-length filter pass: same result
for these linear parts, a fraction of the cost.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal

CTRL_RATE = 100  # Hz, rate of slow control signals (level, pitch, tumble)
POP_LEN = 1024  # samples per synthesised transient, including its reverb tail


def mic_sos(mic: dict, sr: int) -> np.ndarray:
    """Causal microphone band-limit: 2nd-order highpass and 6th-order lowpass Butterworth."""
    nyq = sr / 2
    hp = signal.butter(2, mic["mic_highpass_hz"] / nyq, "highpass", output="sos")
    lp_hz = min(mic["mic_lowpass_hz"], 0.97 * nyq)
    lp = signal.butter(6, lp_hz / nyq, "lowpass", output="sos")
    return np.vstack([hp, lp])


def mic_gain_at(mic: dict, f: np.ndarray, sr: int) -> np.ndarray:
    """Magnitude of the microphone response at frequencies ``f`` (Hz), incl. presence peak."""
    f = np.maximum(np.asarray(f, dtype=np.float64), 1e-3)
    hp = 1.0 / np.sqrt(1.0 + (mic["mic_highpass_hz"] / f) ** 4)
    lp_hz = min(mic["mic_lowpass_hz"], 0.97 * sr / 2)
    lp = 1.0 / np.sqrt(1.0 + (f / lp_hz) ** 12)
    pres = 10 ** (mic["mic_presence_db"] / 20 * np.exp(-0.5 * (np.log2(f / mic["mic_presence_hz"])
                                                             / 0.7) ** 2))
    return hp * lp * pres


def upsample_linear(ctrl: np.ndarray, factor: int, n: int) -> np.ndarray:
    """Linear interpolation by an integer factor, as one vectorised pass (float32)."""
    c = ctrl.astype(np.float32)
    w = (np.arange(factor, dtype=np.float32) / factor)[None, :]
    out = (c[:-1, None] + (c[1:] - c[:-1])[:, None] * w).ravel()
    if out.size < n:
        out = np.concatenate([out, np.full(n - out.size, c[-1], np.float32)])
    return out[:n]


def smooth_walk(rng: np.random.Generator, n: int, corr_s: float, rate: int) -> np.ndarray:
    """Zero-mean, unit-std random wander with correlation time ``corr_s`` at ``rate`` Hz."""
    x = rng.standard_normal(n + 4 * int(corr_s * rate))
    a = np.exp(-1.0 / (corr_s * rate))
    y = signal.lfilter([1 - a], [1, -a], signal.lfilter([1 - a], [1, -a], x))[-n:]
    return (y - y.mean()) / (y.std() + 1e-12)


def coloured_noise(rng: np.random.Generator, n: int, sr: int, roaster: dict,
                   mic: dict, exact: bool = False) -> np.ndarray:
    """Airflow noise: a sloped spectrum with broad resonances, seen through the mic; RMS 1.

    Made in one inverse FFT of a fast length >= n (stationary noise, so truncating is fine);
    ``exact`` uses length n itself, so the noise is periodic in n and can be looped.
    """
    n_fft = n if exact else sfft.next_fast_len(n, real=True)
    nf = n_fft // 2 + 1
    factor = max(1, nf // 4096)  # the shape is smooth: evaluate coarsely, interpolate
    grid = np.arange(0, nf + factor, factor) * (sr / n_fft)
    knee = roaster["airflow_knee_hz"]
    shape_db = roaster["airflow_slope_db_per_oct"] * np.log2(np.maximum(grid, knee) / knee)
    logf = np.log2(np.maximum(grid, 1.0))
    for fc, gain_db, bw in roaster["airflow_bumps"]:
        shape_db += gain_db * np.exp(-0.5 * ((logf - np.log2(fc)) / bw) ** 2)
    grid_mag = 10 ** (shape_db / 20) * mic_gain_at(mic, grid, sr)
    mag = upsample_linear(grid_mag, factor, nf)
    mag[0] = 0.0
    spec = np.empty(nf, np.complex64)
    spec.real = rng.standard_normal(nf, dtype=np.float32) * mag
    spec.imag = rng.standard_normal(nf, dtype=np.float32) * mag
    x = sfft.irfft(spec, n=n_fft, overwrite_x=True)[:n]
    x *= np.float32(1.0 / np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return x


def harmonic_tone(rng: np.random.Generator, f0_ctrl: np.ndarray, n: int, sr: int,
                  rolloff: float, mic: dict) -> np.ndarray:
    """A motor/fan tone: harmonics of a wandering fundamental (``f0_ctrl`` at CTRL_RATE), read
    from a one-period wavetable; harmonic weights include the mic response. RMS about 1.

    The phase is accumulated exactly (float64) at the control rate and extended linearly
    within each control step in float32, which keeps it cheap and drift-free.
    """
    f0 = float(np.median(f0_ctrl))
    k = np.arange(1, max(2, int(7000 / (f0 * 1.15))) + 1)
    amp = k ** -rolloff * 10 ** (rng.normal(0, 5, k.size) / 20) * mic_gain_at(mic, k * f0, sr)
    amp[rng.random(k.size) < 0.25] *= 0.2  # some harmonics weak, as in real motors
    table_len = 16384  # fine enough for nearest-sample lookup (spurs < -25 dB re harmonic)
    ph = np.arange(table_len) / table_len
    phases = rng.uniform(0, 2 * np.pi, k.size)
    table = (amp[:, None] * np.sin(2 * np.pi * k[:, None] * ph[None, :] + phases[:, None])).sum(0)
    table /= np.sqrt(np.mean(table**2)) + 1e-12
    table = table.astype(np.float32)
    step = sr // CTRL_RATE
    inc = np.asarray(f0_ctrl, dtype=np.float64) / sr
    start = np.concatenate([[0.0], np.cumsum(inc * step)[:-1]]) % 1.0
    phase = (start.astype(np.float32)[:, None]
             + inc.astype(np.float32)[:, None] * np.arange(step, dtype=np.float32)[None, :])
    phase = phase.ravel()[:n]
    phase *= table_len
    i = phase.astype(np.int32)  # phase >= 0, so the mask below is the modulo
    i &= table_len - 1
    return table[i]


def rumble(rng: np.random.Generator, n: int, sr: int, roaster: dict, tumble: np.ndarray,
           mic: dict) -> np.ndarray:
    """Drum rumble: low-frequency noise, amplitude-modulated by the tumble of the beans."""
    low_sr = 2000
    factor = sr // low_sr
    m = n // factor + 2
    x = rng.standard_normal(m).astype(np.float32)
    lo = 20.0 if roaster["roaster_type"] == "large_drum" else 35.0
    sos = signal.butter(2, [lo / (low_sr / 2), 220.0 / (low_sr / 2)], "bandpass", output="sos")
    hp = signal.butter(2, min(mic["mic_highpass_hz"], 400) / (low_sr / 2), "highpass",
                       output="sos")
    x = signal.sosfilt(np.vstack([sos, hp]), x).astype(np.float32)
    env = upsample_linear(tumble, low_sr // CTRL_RATE, m)
    x *= env
    x /= np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12
    return upsample_linear(x, factor, n)


def body_ir(rng: np.random.Generator, roaster: dict, mic: dict, sr: int) -> np.ndarray:
    """Impulse response from a transient inside the roaster to the recording: direct sound
    muffled by the beans/chamber, a short reverberant tail, then the microphone."""
    n = POP_LEN // 2
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-t / (roaster["body_reverb_ms"] / 1000))
    tail *= 10 ** (roaster["body_reverb_db"] / 20) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    delay = int(rng.uniform(0.5, 3.0) * sr / 1000)
    ir = np.zeros(n)
    ir[0] = 1.0
    ir[delay:] += tail[: n - delay]
    muffle = signal.butter(2, min(roaster["pop_muffle_hz"], 0.9 * sr / 2) / (sr / 2),
                           output="sos")
    ir = signal.sosfilt(muffle, ir)
    return signal.sosfilt(mic_sos(mic, sr), ir)


def pop_bank(rng: np.random.Generator, n_pops: int, sr: int, centre_hz: float,
             tau_ms: tuple[float, float], ir: np.ndarray) -> np.ndarray:
    """``n_pops`` pop waveforms (rows of POP_LEN samples, each peak-normalised to 1): the
    rows of ``pop_bank_raw`` through the roaster body and microphone response ``ir``."""
    if n_pops == 0:
        return np.zeros((0, POP_LEN), np.float32)
    wave = pop_bank_raw(rng, n_pops, sr, centre_hz, tau_ms)
    spec = sfft.rfft(wave, n=POP_LEN, axis=1) * sfft.rfft(ir, n=POP_LEN)[None, :]
    out = sfft.irfft(spec, n=POP_LEN, axis=1)
    out /= np.abs(out).max(axis=1, keepdims=True) + 1e-12
    return out.astype(np.float32)


def pop_bank_raw(rng: np.random.Generator, n_pops: int, sr: int, centre_hz: float,
                 tau_ms: tuple[float, float], raw_len: int = 320) -> np.ndarray:
    """``n_pops`` dry pops (rows of ``raw_len`` samples, float64, unnormalised).

    A pop is a damped resonance (main mode near ``centre_hz``, varying ±0.5 octave per pop,
    plus a weaker upper mode) with a sub-millisecond broadband noise click on its attack;
    a quarter of pops are doubled (bean splits twice). Decay ``tau_ms`` gives 2-15 ms pops.
    """
    t = (np.arange(raw_len) / sr)[None, :]
    col = lambda a: np.asarray(a)[:, None]  # noqa: E731
    f1 = col(np.clip(centre_hz * 2 ** rng.normal(0, 0.5, n_pops), 300, 0.45 * sr))
    tau = col(rng.uniform(*tau_ms, n_pops) / 1000)
    f2 = f1 * col(rng.uniform(1.5, 3.2, n_pops))
    a2 = col(rng.uniform(0.15, 0.7, n_pops))
    ph1, ph2 = col(rng.uniform(0, 2 * np.pi, n_pops)), col(rng.uniform(0, 2 * np.pi, n_pops))
    click_tau = col(rng.uniform(0.12, 0.7, n_pops) / 1000)
    click_w = col(rng.uniform(0.2, 0.9, n_pops))
    attack = 1 - np.exp(-t / col(rng.uniform(0.03, 0.3, n_pops) / 1000))
    noise = rng.standard_normal((n_pops, raw_len))
    wave = attack * (np.sin(2 * np.pi * f1 * t + ph1) * np.exp(-t / tau)
                     + a2 * np.sin(2 * np.pi * f2 * t + ph2) * np.exp(-t / (0.5 * tau))
                     + click_w * noise * np.exp(-t / click_tau))
    double = rng.random(n_pops) < 0.25
    if double.any():
        shift = rng.integers(int(0.001 * sr), int(0.006 * sr), double.sum())
        cols = np.arange(raw_len)[None, :] - shift[:, None]
        echo = np.take_along_axis(wave[double], np.maximum(cols, 0), axis=1) * (cols >= 0)
        wave[double] += col(rng.uniform(0.3, 0.8, double.sum())) * echo
    return wave


def add_rows(out: np.ndarray, starts: np.ndarray, rows: np.ndarray, gains: np.ndarray) -> None:
    """Mix each row into ``out`` at its start sample, scaled by its gain (in place)."""
    for s, row, g in zip(starts.tolist(), rows, gains.tolist(), strict=True):
        m = min(row.size, out.size - s)  # one slice add per row: far cheaper than np.add.at
        if m > 0:
            out[s:s + m] += np.float32(g) * row[:m]


def clank(rng: np.random.Generator, length_s: float, sr: int) -> np.ndarray:
    """Metal on metal: inharmonic high-Q modes ringing for ``length_s``. Below 50 ms it is a
    dull knock (few low modes, fast decay) that is deliberately pop-like in isolation."""
    n = max(int(length_s * sr), 16)
    t = np.arange(n) / sr
    knock = length_s < 0.05
    k = int(rng.integers(1, 3) if knock else rng.integers(3, 7))
    f = rng.uniform(300, 1800, k) if knock else rng.uniform(700, 5500, k)
    tau = (length_s / rng.uniform(3, 6, k))
    amp = rng.uniform(0.3, 1.0, k)
    x = (amp[:, None] * np.sin(2 * np.pi * f[:, None] * t + rng.uniform(0, 6.3, (k, 1)))
         * np.exp(-t / tau[:, None])).sum(0)
    x += rng.uniform(0.2, 1.0) * rng.standard_normal(n) * np.exp(-t / 0.0005)
    return x / (np.abs(x).max() + 1e-12)


def tick_train(rng: np.random.Generator, length_s: float, period_s: float,
               sr: int) -> np.ndarray:
    """A vane or loose part ticking once per drum turn: near-identical clicks, regular."""
    n = int(length_s * sr)
    out = np.zeros(n)
    click_len = int(0.012 * sr)
    t = np.arange(click_len) / sr
    f = rng.uniform(1200, 4500)
    tau = rng.uniform(0.0006, 0.002)
    click = np.sin(2 * np.pi * f * t) * np.exp(-t / tau)
    times = np.arange(rng.uniform(0, period_s), length_s - 0.02, period_s)
    times = times + rng.normal(0, 0.01 * period_s, times.size)
    for s, a in zip((times * sr).astype(int), rng.uniform(0.7, 1.0, times.size), strict=True):
        if 0 <= s < n - click_len:
            out[s:s + click_len] += a * click
    return out / (np.abs(out).max() + 1e-12)


def _resonate(x: np.ndarray, f: float, bw: float, sr: int) -> np.ndarray:
    r = np.exp(-np.pi * bw / sr)
    return signal.lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r], x)


def talk(rng: np.random.Generator, length_s: float, sr: int) -> np.ndarray:
    """Someone talking near the roaster: voiced syllables (glottal buzz through three
    formants, intonation, 3-6 syllables/s) with unvoiced fricatives and pauses. RMS 1."""
    n = int(length_s * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(90, 240) * (1 + 0.12 * np.sin(2 * np.pi * rng.uniform(0.2, 0.7) * t
                                                    + rng.uniform(0, 6.3)))
    phase = np.cumsum(f0 / sr)
    buzz = (phase - np.floor(phase)) - 0.5 + 0.05 * rng.standard_normal(n)
    out = np.zeros(n)
    pos = 0
    while pos < n:
        seg = int(rng.uniform(0.12, 0.33) * sr)
        end = min(n, pos + seg)
        if rng.random() < 0.15:  # pause between words
            pos = end
            continue
        if rng.random() < 0.2:  # fricative, quieter than vowels
            src = rng.standard_normal(end - pos)
            y = _resonate(src, rng.uniform(2500, 6000), 1500, sr)
            y *= 0.3 / (np.sqrt(np.mean(y**2)) + 1e-12)
        else:
            src = buzz[pos:end]
            y = sum(_resonate(src, fc, bw, sr) * g for fc, bw, g in (
                (rng.uniform(300, 850), 90, 1.0), (rng.uniform(850, 2300), 120, 0.5),
                (rng.uniform(2300, 3200), 180, 0.25)))
            y /= np.sqrt(np.mean(y**2)) + 1e-12
        out[pos:end] += y * np.hanning(end - pos)
        pos = end
    return out / (np.sqrt(np.mean(out**2)) + 1e-12)


def door(rng: np.random.Generator, length_s: float, sr: int) -> np.ndarray:
    """A door creaking (stick-slip pulses through a wooden resonance) then closing (thump)."""
    n = int(length_s * sr)
    t = np.arange(n) / sr
    thump_at = int(rng.uniform(0.5, 0.9) * n)
    rate = rng.uniform(25, 120) * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = np.cumsum(rate / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0) * rng.uniform(0.5, 1.0, n)
    creak = _resonate(pulses, rng.uniform(500, 1600), 150, sr) * (np.arange(n) < thump_at)
    tt = t[: n - thump_at]
    thump = (np.sin(2 * np.pi * rng.uniform(40, 90) * tt) * np.exp(-tt / rng.uniform(0.05, 0.2))
             + 0.3 * rng.standard_normal(tt.size) * np.exp(-tt / 0.01))
    out = creak / (np.abs(creak).max() + 1e-12) * rng.uniform(0.4, 1.0)
    out[thump_at:] += thump
    return out / (np.abs(out).max() + 1e-12)


def handling_thump(rng: np.random.Generator, sr: int) -> np.ndarray:
    """The bump and rustle of a hand on the microphone (mostly below 200 Hz)."""
    n = int(rng.uniform(0.08, 0.25) * sr)
    t = np.arange(n) / sr
    x = np.sin(2 * np.pi * rng.uniform(15, 60) * t) * np.exp(-t / rng.uniform(0.02, 0.06))
    x += 0.3 * rng.standard_normal(n) * np.exp(-t / 0.03)
    return x / (np.abs(x).max() + 1e-12)
