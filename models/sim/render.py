"""Rendering the acoustic scene of one roast: the roaster's steady noise, the pops and the
distractors, before the recording chain (``firstcrack.models.sim.chain``).

Every function takes the roast's ``params`` (the truth's JSON-able recipe) and seed, and
draws its randomness from its own sub-stream, so the same seed renders the same samples.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from firstcrack.models.sim import room
from firstcrack.models.sim import sounds as snd
from firstcrack.models.sim.pops import POP_FAMILIES, pop_rows
from firstcrack.models.sim.timeline import Stream, rng_for

POP_SNR_RANGE_DB = (-5.0, 30.0)
"""Every first-crack pop's SNR (peak over the local steady-background RMS) lies in here."""


def background(seed: int, params: dict, events: list[dict], n: int, sr: int) -> np.ndarray:
    """Steady roaster noise through the microphone, arbitrary scale (airflow RMS ~1)."""
    p = params
    rng = rng_for(seed, Stream.BACKGROUND_AUDIO)
    n_ctrl = n // (sr // snd.CTRL_RATE) + 2
    tc = np.arange(n_ctrl) / snd.CTRL_RATE
    level_db = p["drift_db"] * snd.smooth_walk(rng, n_ctrl, 60.0, snd.CTRL_RATE)
    f0_rel = 1.0 + 0.004 * snd.smooth_walk(rng, n_ctrl, 6.0, snd.CTRL_RATE)
    for ev in events:
        if ev["kind"] == "setting_change":  # fan/heat change: level step, fan speed step
            ramp = np.clip((tc - ev["start_s"]) / max(ev["end_s"] - ev["start_s"], 0.05), 0, 1)
            level_db += rng.choice([-1.0, 1.0]) * rng.uniform(1.0, 4.0) * ramp
            f0_rel *= 1.0 + (rng.uniform(-0.08, 0.08) if rng.random() < 0.6 else 0.0) * ramp
    vane = np.zeros(n_ctrl)
    if p["drum_hz"] > 0:
        drum_phase = np.cumsum(p["drum_hz"] * (1 + 0.01 * snd.smooth_walk(
            rng, n_ctrl, 5.0, snd.CTRL_RATE))) / snd.CTRL_RATE
        vane = np.maximum(0, np.sin(2 * np.pi * p["drum_vanes"] * drum_phase)) ** 2
        vane = vane - vane.mean()
    step = sr // snd.CTRL_RATE
    air_env = 10 ** (level_db / 20) * (1 + p["bean_hiss_depth"] * vane)
    x = snd.coloured_noise(rng, n, sr, p, p) * snd.upsample_linear(air_env, step, n)
    hum_gain = 10 ** (p["hum_level_db"] / 20)
    x += hum_gain * snd.harmonic_tone(rng, p["hum_f0_hz"] * f0_rel, n, sr, p["hum_rolloff"], p)
    if p["fan_f0_hz"]:
        x += 10 ** (p["fan_level_db"] / 20) * snd.harmonic_tone(
            rng, p["fan_f0_hz"] * f0_rel, n, sr, 2.0 * p["hum_rolloff"], p)
    if p["rumble_level_db"] > -90:
        tumble = np.maximum(0.05, 1 + 1.6 * vane)
        x += 10 ** (p["rumble_level_db"] / 20) * snd.rumble(rng, n, sr, p, tumble, p)
    return x


def local_rms(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS per ``frame`` samples, smoothed over 5 frames (the 'local background' level)."""
    m = x.size // frame
    e = np.mean(np.square(x[: m * frame].reshape(m, frame), dtype=np.float64), axis=1)
    e = np.convolve(np.pad(e, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return np.sqrt(np.append(e, e[-1]))


def place_pops(out: np.ndarray, rng: np.random.Generator, times: list[float],
               local: np.ndarray, frame: int, snr_median: float, spread: float,
               rows: np.ndarray, sr: int) -> np.ndarray:
    """Mix pop ``rows`` (peak 1) into ``out`` at ``times``; returns each pop's SNR in dB (peak
    over local RMS), drawn around ``snr_median`` and held inside ``POP_SNR_RANGE_DB``."""
    t = np.asarray(times)
    snr = np.clip(snr_median + spread * rng.standard_normal(t.size),
                  max(snr_median - 10, POP_SNR_RANGE_DB[0]),
                  min(snr_median + 14, POP_SNR_RANGE_DB[1]))
    starts = np.minimum((t * sr).astype(np.int64), out.size - 1)
    bg = local[np.minimum(starts // frame, local.size - 1)]
    snd.add_rows(out, starts, rows, (10 ** (snr / 20) * bg).astype(np.float32))
    return snr


def first_crack_rows(seed: int, params: dict, n_pops: int, ir: np.ndarray, sr: int
                     ) -> tuple[np.ndarray, dict[str, int]]:
    """The first-crack pops from the roast's family mixture, and how many of each family."""
    rows, fam = pop_rows(rng_for(seed, Stream.POP_FAMILY_AUDIO), params["pop_family_weights"],
                         n_pops, sr, params["pop_centre_hz"], (0.5, 3.0), ir)
    counts = np.bincount(fam, minlength=len(POP_FAMILIES))
    return rows, {f: int(c) for f, c in zip(POP_FAMILIES, counts, strict=True)}


def add_events(out: np.ndarray, gate: np.ndarray, seed: int, params: dict, events: list[dict],
               local: np.ndarray, frame: int, ir: np.ndarray, sr: int) -> list:
    """Render distractors and room sounds into ``out`` and mic-handling silences into
    ``gate`` (in place). Returns, per event, its drawn level in dB over the local background
    (peak, or RMS for talk, music and hood): a number, a list for the two thumps around a
    handling silence, None where nothing was mixed in."""
    p = params
    rng = rng_for(seed, Stream.EVENT_AUDIO)
    rng_room = rng_for(seed, Stream.ROOM_AUDIO)
    sos = snd.mic_sos(p, sr)
    levels: list = []
    drawn: list[float] = []

    def mix(x: np.ndarray, at_s: float, level_db: float, path: str, by_rms: bool = False
            ) -> None:
        """Add ``x`` at ``at_s`` with its peak (or RMS) ``level_db`` over the local
        background; ``path`` "inside" the roaster goes through its body response, "room"
        through the microphone, "done" already has the microphone applied."""
        y = signal.oaconvolve(x, ir) if path == "inside" else (
            signal.sosfilt(sos, x) if path == "room" else x)
        s = int(at_s * sr)
        ref = np.sqrt(np.mean(y**2)) if by_rms else np.abs(y).max()
        y = y[: max(0, out.size - s)]
        bg = local[min(s // frame, local.size - 1)]
        out[s:s + y.size] += (y * (10 ** (level_db / 20) * bg / (ref + 1e-12))).astype(np.float32)
        drawn.append(round(float(level_db), 2))

    for ev in events:
        kind, a, b = ev["kind"], ev["start_s"], ev["end_s"]
        drawn.clear()
        if kind == "clank":
            knock = b - a < 0.05
            mix(snd.clank(rng, b - a, sr), a, rng.uniform(3, 15) if knock else rng.uniform(6, 24),
                "inside")
        elif kind == "tick":
            period = 1.0 / p["drum_hz"]
            mix(snd.tick_train(rng, b - a, period, sr), a, rng.uniform(8, 20), "inside")
        elif kind == "talk":
            mix(snd.talk(rng, b - a, sr), a, rng.uniform(-6, 8), "room", by_rms=True)
        elif kind == "door":
            mix(snd.door(rng, b - a, sr), a, rng.uniform(3, 18), "room")
        elif kind == "handling_silence":
            s, e = int(a * sr), min(int(b * sr), gate.size)
            ramp = min(int(0.015 * sr), (e - s) // 4)
            floor = 10 ** (-rng.uniform(40, 60) / 20)
            g = np.full(e - s, floor, np.float32)
            g[:ramp] = np.linspace(1, floor, ramp)
            g[e - s - ramp:] = np.linspace(floor, 1, ramp)
            gate[s:e] = g
            for at in (a - 0.05, b):
                mix(snd.handling_thump(rng, sr), max(at, 0.0), rng.uniform(8, 22), "room")
        elif kind == "setting_change" and rng.random() < 0.5:  # a knob or damper click
            mix(snd.clank(rng, 0.02, sr), a, rng.uniform(0, 10), "room")
        elif kind == "spoon_tap":
            mix(room.spoon_taps(rng_room, b - a, sr), a, rng_room.uniform(5, 25), "room")
        elif kind == "tumble_click":
            rate = (p["drum_hz"] * max(p["drum_vanes"], 1) * rng_room.uniform(1, 4)
                    if p["drum_hz"] > 0 else rng_room.uniform(2, 12))
            mix(room.tumble_clicks(rng_room, b - a, rate, rng_room.uniform(0.02, 0.3), sr), a,
                rng_room.uniform(0, 12), "inside")
        elif kind == "music":
            mix(room.music(rng_room, b - a, sr), a, rng_room.uniform(-12, 6), "room",
                by_rms=True)
        elif kind == "hood":
            mix(room.hood(rng_room, b - a, sr, p), a, rng_room.uniform(-10, 3), "done",
                by_rms=True)
        levels.append(None if not drawn else drawn[0] if len(drawn) == 1 else list(drawn))
    return levels
