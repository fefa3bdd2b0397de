"""Synthetic roast recordings with exact ground truth.

The tests, the demo, the demo model's training data and the benchmarks all use these roasts,
so the simulator aims to be physically honest rather than easy: pops sit only a few dB above
a varied roaster noise (motor harmonics, airflow, drum rumble, drift, setting steps), seen
through a varied microphone, among distractors that are transient too (clanks, knocks, drum
ticks, talk, a door, mic handling). What tells first crack apart is the statistics of the
pops: their sound, their rate and their bursts.

Public API: ``SAMPLE_RATE``, ``RoastTruth``, ``draw_timeline`` (truth without audio),
``simulate_roast``, ``write_roast``, ``load_truth``. Bad arguments raise ``SimulatorError``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from models import sim_sounds as snd
from models.sim_crack import Crack, draw_cracks, draw_sparse_choice
from models.sim_timeline import (
    Stream,
    draw_duration,
    draw_events,
    draw_mic,
    draw_roaster,
    rng_for,
)

SAMPLE_RATE: int = 16000
SIM_VERSION = 1
_MAX_DURATION_S = 4 * 3600.0
_MIN_DURATION_S = 20.0


class SimulatorError(ValueError):
    """A bad argument to the simulator (seed, duration, flags) or an unreadable truth file."""


@dataclass(frozen=True)
class RoastTruth:
    """Ground truth of one simulated roast. Times in seconds from the start of the audio.

    ``events`` are distractors, each ``{"kind", "start_s", "end_s"}`` with kind one of clank,
    tick, talk, door, handling_silence, setting_change. ``params`` (JSON-able) records the
    roaster, microphone and measured levels, e.g. ``pop_snr_db_median``: median pop peak over
    the local steady-background RMS, in dB.
    """

    seed: int
    duration: float
    crack: bool
    first_crack_onset_s: float | None
    first_crack_end_s: float | None
    pop_times_s: list[float]
    second_crack_onset_s: float | None
    second_crack_pop_times_s: list[float]
    events: list[dict]
    params: dict

    def to_annotation(self, audio_file: str) -> dict:
        """The project's annotation format (a ``first_crack`` region) plus all truth fields.
        Second crack is labelled ``second_crack``, never ``first_crack``. ``sparse`` tells
        whether first crack was drawn sparse (also in ``params``)."""
        annotations = []
        if self.first_crack_onset_s is not None:
            annotations.append({"start_time": self.first_crack_onset_s,
                                "end_time": self.first_crack_end_s, "label": "first_crack"})
        if self.second_crack_onset_s is not None:
            annotations.append({"start_time": self.second_crack_onset_s,
                                "end_time": self.params.get("second_crack_end_s"),
                                "label": "second_crack"})
        return {
            "audio_file": audio_file,
            "duration": self.duration,
            "annotations": annotations,
            "first_crack_onset_s": self.first_crack_onset_s,
            "first_crack_end_s": self.first_crack_end_s,
            "pop_times_s": list(self.pop_times_s),
            "second_crack_onset_s": self.second_crack_onset_s,
            "second_crack_pop_times_s": list(self.second_crack_pop_times_s),
            "events": [dict(e) for e in self.events],
            "seed": self.seed,
            "crack": self.crack,
            "sparse": bool(self.params.get("sparse", False)),
            "params": dict(self.params),
        }


def _check_args(seed: object, duration_s: object, crack: bool, second_crack: bool | None,
                sparse: bool | None) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise SimulatorError(f"seed must be a non-negative integer, got {seed!r}")
    if duration_s is not None:
        if not isinstance(duration_s, int | float) or not math.isfinite(duration_s):
            raise SimulatorError(f"duration_s must be a finite number of seconds, got "
                                 f"{duration_s!r}")
        if not _MIN_DURATION_S <= duration_s <= _MAX_DURATION_S:
            raise SimulatorError(f"duration_s={duration_s} is outside "
                                 f"{_MIN_DURATION_S:g}..{_MAX_DURATION_S:g} s")
    if second_crack and not crack:
        raise SimulatorError("second_crack=True needs crack=True (no first crack, no second)")
    if sparse and not crack:
        raise SimulatorError("sparse=True needs crack=True (a sparse first crack needs one)")


def _timeline(seed: int, duration_s: float | None, crack: bool, second_crack: bool | None,
              sparse: bool | None) -> tuple[RoastTruth, Crack | None, Crack | None]:
    _check_args(seed, duration_s, crack, second_crack, sparse)
    seed = int(seed)
    duration = draw_duration(seed) if duration_s is None else float(duration_s)
    roaster, mic = draw_roaster(seed), draw_mic(seed)
    is_sparse = draw_sparse_choice(seed, crack, sparse)
    try:
        first, second, mode = draw_cracks(seed, duration, crack, second_crack, is_sparse)
    except ValueError as exc:
        raise SimulatorError(str(exc)) from exc
    params = {"sim_version": SIM_VERSION, "sample_rate": SAMPLE_RATE, "timeline_mode": mode,
              "sparse": is_sparse,
              **roaster, **mic,
              "first_crack_bursts_s": [list(b) for b in first.bursts_s] if first else [],
              "second_crack_end_s": second.end_s if second else None}
    truth = RoastTruth(
        seed=seed, duration=duration, crack=crack,
        first_crack_onset_s=first.onset_s if first else None,
        first_crack_end_s=first.end_s if first else None,
        pop_times_s=first.pop_times_s.tolist() if first else [],
        second_crack_onset_s=second.onset_s if second else None,
        second_crack_pop_times_s=second.pop_times_s.tolist() if second else [],
        events=draw_events(seed, duration, roaster), params=params)
    return truth, first, second


def draw_timeline(seed: int, duration_s: float | None = None, crack: bool = True,
                  second_crack: bool | None = None, sparse: bool | None = None) -> RoastTruth:
    """The ground truth ``simulate_roast`` would produce, without rendering audio (ms per
    seed). Audio-measured params (levels, achieved SNR) are absent."""
    return _timeline(seed, duration_s, crack, second_crack, sparse)[0]


def _background(truth: RoastTruth, n: int) -> np.ndarray:
    """Steady roaster noise through the microphone, arbitrary scale (airflow RMS ~1)."""
    p, sr = truth.params, SAMPLE_RATE
    rng = rng_for(truth.seed, Stream.BACKGROUND_AUDIO)
    n_ctrl = n // (sr // snd.CTRL_RATE) + 2
    tc = np.arange(n_ctrl) / snd.CTRL_RATE
    level_db = p["drift_db"] * snd.smooth_walk(rng, n_ctrl, 60.0, snd.CTRL_RATE)
    f0_rel = 1.0 + 0.004 * snd.smooth_walk(rng, n_ctrl, 6.0, snd.CTRL_RATE)
    for ev in truth.events:
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


def _local_rms(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS per ``frame`` samples, smoothed over 5 frames (the 'local background' level)."""
    m = x.size // frame
    e = np.mean(np.square(x[: m * frame].reshape(m, frame), dtype=np.float64), axis=1)
    e = np.convolve(np.pad(e, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return np.sqrt(np.append(e, e[-1]))


def _place_pops(out: np.ndarray, rng: np.random.Generator, times: list[float], local: np.ndarray,
                frame: int, centre_hz: float, tau_ms: tuple[float, float], snr_median: float,
                spread: float, ir: np.ndarray) -> np.ndarray:
    """Synthesise and mix pops; returns each pop's SNR in dB (peak over local RMS)."""
    t = np.asarray(times)
    rows = snd.pop_bank(rng, t.size, SAMPLE_RATE, centre_hz, tau_ms, ir)
    snr = np.clip(snr_median + spread * rng.standard_normal(t.size), snr_median - 10,
                  snr_median + 14)
    starts = np.minimum((t * SAMPLE_RATE).astype(np.int64), out.size - 1)
    bg = local[np.minimum(starts // frame, local.size - 1)]
    snd.add_rows(out, starts, rows, (10 ** (snr / 20) * bg).astype(np.float32))
    return snr


def _add_events(out: np.ndarray, gate: np.ndarray, truth: RoastTruth, local: np.ndarray,
                frame: int, ir: np.ndarray) -> None:
    """Render distractors into ``out`` and mic-handling silences into ``gate`` (in place)."""
    p, sr = truth.params, SAMPLE_RATE
    rng = rng_for(truth.seed, Stream.EVENT_AUDIO)
    sos = snd.mic_sos(p, sr)

    def mix(x: np.ndarray, at_s: float, level_db: float, inside: bool, by_rms: bool = False
            ) -> None:
        """Add ``x`` at ``at_s`` with its peak (or RMS) ``level_db`` over the local
        background; sounds from ``inside`` the roaster go through its body response."""
        y = signal.oaconvolve(x, ir) if inside else signal.sosfilt(sos, x)
        s = int(at_s * sr)
        ref = np.sqrt(np.mean(y**2)) if by_rms else np.abs(y).max()
        y = y[: max(0, out.size - s)]
        bg = local[min(s // frame, local.size - 1)]
        out[s:s + y.size] += (y * (10 ** (level_db / 20) * bg / (ref + 1e-12))).astype(np.float32)

    for ev in truth.events:
        kind, a, b = ev["kind"], ev["start_s"], ev["end_s"]
        if kind == "clank":
            knock = b - a < 0.05
            mix(snd.clank(rng, b - a, sr), a, rng.uniform(3, 15) if knock else rng.uniform(6, 24),
                True)
        elif kind == "tick":
            period = 1.0 / p["drum_hz"]
            mix(snd.tick_train(rng, b - a, period, sr), a, rng.uniform(8, 20), True)
        elif kind == "talk":
            mix(snd.talk(rng, b - a, sr), a, rng.uniform(-6, 8), False, by_rms=True)
        elif kind == "door":
            mix(snd.door(rng, b - a, sr), a, rng.uniform(3, 18), False)
        elif kind == "handling_silence":
            s, e = int(a * sr), min(int(b * sr), gate.size)
            ramp = min(int(0.015 * sr), (e - s) // 4)
            floor = 10 ** (-rng.uniform(40, 60) / 20)
            g = np.full(e - s, floor, np.float32)
            g[:ramp] = np.linspace(1, floor, ramp)
            g[e - s - ramp:] = np.linspace(floor, 1, ramp)
            gate[s:e] = g
            for at in (a - 0.05, b):
                mix(snd.handling_thump(rng, sr), max(at, 0.0), rng.uniform(8, 22), False)
        elif kind == "setting_change" and rng.random() < 0.5:  # a knob or damper click
            mix(snd.clank(rng, 0.02, sr), a, rng.uniform(0, 10), False)


def simulate_roast(seed: int, duration_s: float | None = None, crack: bool = True,
                   second_crack: bool | None = None, sparse: bool | None = None
                   ) -> tuple[np.ndarray, RoastTruth]:
    """Render one roast: mono float32 in [-1, 1] at SAMPLE_RATE, and its ground truth.

    ``duration_s`` None draws 575-908 s from the seed; short durations scale the timeline so
    first crack still fits. ``second_crack`` None draws it from the seed (about 40 % of crack
    roasts, where there is room). ``sparse`` None draws a sparse first crack (8-30 scattered
    pops) for about 30 % of crack roasts. Same seed and flags give identical samples.
    """
    truth, _, _ = _timeline(seed, duration_s, crack, second_crack, sparse)
    p, sr = dict(truth.params), SAMPLE_RATE
    n = int(round(truth.duration * sr))
    x = _background(truth, n)
    frame = sr // 10
    local = _local_rms(x, frame)

    ir = snd.body_ir(rng_for(truth.seed, Stream.POP_AUDIO), p, p, sr)
    gate = np.ones(n, np.float32)
    events = np.zeros(n, np.float32)
    _add_events(events, gate, truth, local, frame, ir)
    snr1 = _place_pops(x, rng_for(truth.seed, Stream.POP_AUDIO), truth.pop_times_s, local, frame,
                       p["pop_centre_hz"], (0.5, 3.0), p["pop_snr_target_db"],
                       p["pop_snr_spread_db"], ir)
    snr2 = _place_pops(x, rng_for(truth.seed, Stream.SECOND_AUDIO),
                       truth.second_crack_pop_times_s, local, frame, p["second_centre_hz"],
                       (0.2, 1.0), p["pop_snr_target_db"] + p["second_snr_offset_db"],
                       p["pop_snr_spread_db"], ir)
    x *= gate
    x += events

    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    peak = float(np.abs(x).max())
    gain = min(10 ** (p["target_level_dbfs"] / 20) / rms, 0.97 / peak)
    x *= np.float32(gain)
    noise_rng = rng_for(truth.seed, Stream.SELF_NOISE)
    x += (10 ** (p["self_noise_dbfs"] / 20)
          * noise_rng.standard_normal(n, dtype=np.float32))
    np.clip(x, -1.0, 1.0, out=x)

    def audible(times: list[float], snr: np.ndarray) -> np.ndarray:
        idx = np.minimum((np.asarray(times) * sr).astype(np.int64), n - 1)
        return snr[gate[idx] > 0.5] if len(times) else snr

    a1, a2 = audible(truth.pop_times_s, snr1), audible(truth.second_crack_pop_times_s, snr2)
    p.update({
        "mic_gain_db": round(20 * math.log10(gain), 2),
        "level_dbfs": round(20 * math.log10(rms * gain + 1e-12), 2),
        "peak_dbfs": round(20 * math.log10(float(np.abs(x).max()) + 1e-12), 2),
        "n_pops": len(truth.pop_times_s),
        "n_second_crack_pops": len(truth.second_crack_pop_times_s),
        "pop_snr_db_median": round(float(np.median(a1)), 2) if a1.size else None,
        "pop_snr_db_p10": round(float(np.percentile(a1, 10)), 2) if a1.size else None,
        "pop_snr_db_p90": round(float(np.percentile(a1, 90)), 2) if a1.size else None,
        "second_crack_snr_db_median": round(float(np.median(a2)), 2) if a2.size else None,
    })
    return x, RoastTruth(**{**truth.__dict__, "params": p})


def write_roast(path: str | Path, seed: int, duration_s: float | None = None, crack: bool = True,
                second_crack: bool | None = None, sparse: bool | None = None
                ) -> tuple[Path, Path]:
    """Write PATH (16-bit PCM WAV) and PATH with a .json suffix (the annotation)."""
    wav = Path(path)
    if wav.suffix.lower() != ".wav":
        raise SimulatorError(f"output path must end in .wav, got {str(path)!r}")
    audio, truth = simulate_roast(seed, duration_s, crack, second_crack, sparse)
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, audio, SAMPLE_RATE, subtype="PCM_16")
    js = wav.with_suffix(".json")
    js.write_text(json.dumps(truth.to_annotation(wav.name), indent=1))
    return wav, js


def load_truth(path: str | Path) -> RoastTruth:
    """Read a truth JSON written by ``write_roast`` (a .wav path finds its .json beside it)."""
    js = Path(path)
    if js.suffix.lower() == ".wav":
        js = js.with_suffix(".json")
    try:
        d = json.loads(js.read_text())
        return RoastTruth(
            seed=int(d["seed"]), duration=float(d["duration"]),
            crack=bool(d.get("crack", d["first_crack_onset_s"] is not None)),
            first_crack_onset_s=d["first_crack_onset_s"], first_crack_end_s=d["first_crack_end_s"],
            pop_times_s=list(d["pop_times_s"]), second_crack_onset_s=d["second_crack_onset_s"],
            second_crack_pop_times_s=list(d["second_crack_pop_times_s"]),
            events=list(d["events"]), params=dict(d["params"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SimulatorError(f"cannot read roast truth from {str(js)!r}: {exc}") from exc
