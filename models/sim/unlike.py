"""An "unlike" roaster: one user's roaster, from outside the demo model's training world.

The demo model was trained on `models.sim.simulator` roasts (sim_version 2), where every seed
draws a new roaster (drum, fluid bed, popper, heat gun), a new air microphone (high-pass
20-200 Hz, low-pass 3.5-8 kHz) and pops from five families centred at 550-1300 Hz. A user
has one roaster, one microphone and one room, so this roaster is fixed across seeds (only
the roast's timeline, its pops and its distractors change with the seed), and it is unlike
anything the simulator draws:

- **crack timbre**: its beans crack as low, dull "thocks" (`THOCK_HZ`, 10-30 ms ring),
  heard through a heavy drum wall, not as the simulator's bright clicks;
- **the roaster**: a centrifugal blower whose blade-pass tone (`BLOWER_HZ`) and its
  harmonics sit `BLOWER_DB` over the airflow (the simulator's loudest hum is about 2 dB);
- **the microphone**: a contact pickup on the body: a `MIC_BAND_HZ` band with a +10 dB
  body resonance at `RESONANCE_HZ`, narrower than any microphone the simulator draws.

Crack roasts are never sparse and have no second crack, and pops sit `THOCK_SNR_DB`
(+/- 3 dB) over the local background: a human hears every first crack here, so a model
that misses them has learnt the wrong roaster, not an impossible task.
`simulate_unlike` returns the audio and a `RoastTruth` with exact first-crack times.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from firstcrack.models.sim import render
from firstcrack.models.sim import sounds as snd
from firstcrack.models.sim.simulator import SAMPLE_RATE, RoastTruth, draw_timeline
from firstcrack.models.sim.timeline import Stream, draw_events, draw_mic, draw_roaster, rng_for

MIC_BAND_HZ = (150.0, 4000.0)
RESONANCE_HZ = 1100.0
BLOWER_HZ = 170.0
BLOWER_DB = 8.0
THOCK_HZ = (200.0, 300.0)
THOCK_SNR_DB = 18.0
LEVEL_DBFS = -24.0
_BASE_SEED = 31
"""The simulator seed whose roaster and microphone the unlike roaster starts from."""
_STREAM = 977
"""This module's own random sub-stream (the simulator's streams stay untouched)."""


def unlike_params() -> dict:
    """The roaster's fixed recipe (simulator params with the unlike parts overridden)."""
    p = {**draw_roaster(_BASE_SEED), **draw_mic(_BASE_SEED)}
    p.update(roaster_type="centrifugal_blower", drum_hz=0.0, drum_vanes=0, bean_hiss_depth=0.0,
             hum_f0_hz=BLOWER_HZ, hum_level_db=BLOWER_DB, hum_rolloff=0.5,
             fan_f0_hz=BLOWER_HZ * 7, fan_level_db=BLOWER_DB - 8, rumble_level_db=-99.0,
             mic_highpass_hz=20.0, mic_lowpass_hz=8000.0, mic_presence_db=0.0)
    return p


def _peaking(f0: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """RBJ peaking-EQ biquad as one SOS row."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * np.pi * f0 / sr
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a])
    den = np.array([1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a])
    return np.concatenate([b / den[0], den / den[0]])[None, :]


def contact_mic(x: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The pickup's band and body resonance."""
    band = signal.butter(4, MIC_BAND_HZ, btype="bandpass", fs=sr, output="sos")
    return signal.sosfilt(np.vstack([band, _peaking(RESONANCE_HZ, 10.0, 2.0, sr)]), x)


def _thocks(rng: np.random.Generator, times: list[float], local: np.ndarray, frame: int,
            n: int, sr: int) -> np.ndarray:
    out = np.zeros(n)
    m = int(0.12 * sr)
    t = np.arange(m) / sr
    for at in times:
        s = int(at * sr)
        if s + m > n:
            continue
        f = rng.uniform(*THOCK_HZ)
        y = np.sin(2 * np.pi * f * t) * np.exp(-t / rng.uniform(0.01, 0.03))
        y += 0.3 * np.sin(2 * np.pi * 2.7 * f * t) * np.exp(-t / 0.006)
        level = 10 ** ((THOCK_SNR_DB + rng.normal(0, 3)) / 20) * local[min(s // frame,
                                                                             local.size - 1)]
        out[s:s + m] += level * y / np.abs(y).max()
    return out


def simulate_unlike(seed: int, duration_s: float = 420.0, crack: bool = True
                    ) -> tuple[np.ndarray, RoastTruth]:
    """One roast of the unlike roaster: 16 kHz mono float32 in [-1, 1] and its truth."""
    sr = SAMPLE_RATE
    timeline = draw_timeline(seed, duration_s, crack=crack, second_crack=False, sparse=False)
    p = unlike_params()
    events = [e for e in draw_events(seed, duration_s, p) if e["kind"] != "tick"]
    n = int(round(duration_s * sr))
    x = render.background(seed, p, events, n, sr)
    frame = sr // 10
    local = render.local_rms(x, frame)
    ir = snd.body_ir(rng_for(seed, Stream.POP_AUDIO), p, p, sr)
    gate = np.ones(n, np.float32)
    extra = np.zeros(n, np.float32)
    render.add_events(extra, gate, seed, p, events, local, frame, ir, sr)
    x = x + _thocks(np.random.default_rng([seed, _STREAM]), timeline.pop_times_s, local,
                    frame, n, sr)
    y = contact_mic(x * gate + extra, sr)
    y *= 10 ** (LEVEL_DBFS / 20) / (np.sqrt(np.mean(y**2)) + 1e-12)
    y += 10 ** (-85 / 20) * np.random.default_rng([seed, _STREAM + 1]).standard_normal(n)
    params = {**p, "unlike": True, "unlike_band_hz": list(MIC_BAND_HZ),
              "unlike_resonance_hz": RESONANCE_HZ, "unlike_crack": "thock"}
    truth = RoastTruth(**{**timeline.__dict__, "events": events, "params": params})
    return np.clip(y, -1, 1).astype(np.float32), truth
