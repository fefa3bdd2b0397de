"""Synthetic roast recordings with exact ground truth.

The tests, the demo, the demo model's training data and the benchmarks all use these roasts,
so the simulator aims to be physically honest rather than easy: pops sit from -5 to +30 dB
over a varied roaster noise (drum, fluid-bed, popcorn popper, heat gun and bread machine:
motor harmonics, airflow, rumble, drift, setting steps), seen through a varied microphone
and recording chain (capture rate, stereo pair, AGC, clipping, a lossy codec), among
distractors that are transient too (clanks, knocks, drum ticks, spoon taps, tumble clicks,
talk, music, a hood, a door, mic handling). Pops come from several synthesis families and
from real popcorn recordings, so no one recipe is what a model learns. What tells first
crack apart is the statistics of the pops: their rate, their bursts or their scatter.

Every draw is recorded in the truth ``params`` (see ``firstcrack.models.sim.timeline``,
``models.sim.domain`` and ``models.sim.pops``), so a roast's conditions can be inspected.

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

from firstcrack.models.contracts import SAMPLE_RATE, UserError
from firstcrack.models.sim import chain, render
from firstcrack.models.sim import sounds as snd
from firstcrack.models.sim.crack import Crack, draw_cracks, draw_sparse_choice
from firstcrack.models.sim.domain import draw_chain, draw_room_events
from firstcrack.models.sim.pops import draw_pop_mix
from firstcrack.models.sim.timeline import (
    Stream,
    draw_duration,
    draw_events,
    draw_mic,
    draw_roaster,
    rng_for,
)

SIM_VERSION = 2
_MAX_DURATION_S = 4 * 3600.0
_MIN_DURATION_S = 20.0


class SimulatorError(UserError, ValueError):
    """A bad argument to the simulator (seed, duration, flags) or an unreadable truth file."""


@dataclass(frozen=True)
class RoastTruth:
    """Ground truth of one simulated roast. Times in seconds from the start of the audio.

    ``events`` are distractors, each ``{"kind", "start_s", "end_s"}`` with kind one of clank,
    tick, talk, door, handling_silence, setting_change, hood, music, spoon_tap,
    tumble_click. ``params`` (JSON-able) records the roaster, microphone, recording chain,
    pop families and measured levels, e.g. ``pop_snr_db_median``: median pop peak over the
    local steady-background RMS, in dB, and ``event_levels_db``, one entry per event.
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
              **roaster, **mic, **draw_chain(seed),
              "pop_family_weights": draw_pop_mix(rng_for(seed, Stream.POP_MIX)),
              "first_crack_bursts_s": [list(b) for b in first.bursts_s] if first else [],
              "second_crack_end_s": second.end_s if second else None}
    truth = RoastTruth(
        seed=seed, duration=duration, crack=crack,
        first_crack_onset_s=first.onset_s if first else None,
        first_crack_end_s=first.end_s if first else None,
        pop_times_s=first.pop_times_s.tolist() if first else [],
        second_crack_onset_s=second.onset_s if second else None,
        second_crack_pop_times_s=second.pop_times_s.tolist() if second else [],
        events=sorted(draw_events(seed, duration, roaster)
                      + draw_room_events(seed, duration, roaster),
                      key=lambda e: (e["start_s"], e["kind"])), params=params)
    return truth, first, second


def draw_timeline(seed: int, duration_s: float | None = None, crack: bool = True,
                  second_crack: bool | None = None, sparse: bool | None = None) -> RoastTruth:
    """The ground truth ``simulate_roast`` would produce, without rendering audio (ms per
    seed). Audio-measured params (levels, achieved SNR) are absent."""
    return _timeline(seed, duration_s, crack, second_crack, sparse)[0]


def _snr_stats(prefix: str, snr: np.ndarray) -> dict:
    def stat(f: float | None) -> float | None:
        return None if not snr.size else round(float(
            np.median(snr) if f is None else np.percentile(snr, f)), 2)
    return {f"{prefix}_median": stat(None), f"{prefix}_p10": stat(10), f"{prefix}_p90": stat(90),
            f"{prefix}_min": stat(0), f"{prefix}_max": stat(100)}


def simulate_roast(seed: int, duration_s: float | None = None, crack: bool = True,
                   second_crack: bool | None = None, sparse: bool | None = None
                   ) -> tuple[np.ndarray, RoastTruth]:
    """Render one roast: mono float32 in [-1, 1] at SAMPLE_RATE, and its ground truth.

    ``duration_s`` None draws 575-908 s from the seed; short durations scale the timeline so
    first crack still fits. ``second_crack`` None draws it from the seed (about 40 % of crack
    roasts, where there is room). ``sparse`` None draws a sparse first crack (8-30 scattered
    pops) for about 30 % of crack roasts. Same seed and flags give identical samples.

    The pops' SNR in ``params`` (``pop_snr_db``, one per pop, and its statistics) is peak
    over the local steady background before the recording chain, counting only pops that
    the microphone heard (not inside a handling silence).
    """
    truth, _, _ = _timeline(seed, duration_s, crack, second_crack, sparse)
    p, sr, seed = dict(truth.params), SAMPLE_RATE, truth.seed
    n = int(round(truth.duration * sr))
    x = render.background(seed, p, truth.events, n, sr)
    frame = sr // 10
    local = render.local_rms(x, frame)

    ir = snd.body_ir(rng_for(seed, Stream.POP_AUDIO), p, p, sr)
    gate = np.ones(n, np.float32)
    events = np.zeros(n, np.float32)
    levels = render.add_events(events, gate, seed, p, truth.events, local, frame, ir, sr)
    rows, counts = render.first_crack_rows(seed, p, len(truth.pop_times_s), ir, sr)
    snr1 = render.place_pops(x, rng_for(seed, Stream.POP_AUDIO), truth.pop_times_s, local,
                             frame, p["pop_snr_target_db"], p["pop_snr_spread_db"], rows, sr)
    rng2 = rng_for(seed, Stream.SECOND_AUDIO)
    rows2 = snd.pop_bank(rng2, len(truth.second_crack_pop_times_s), sr, p["second_centre_hz"],
                         (0.2, 1.0), ir)
    snr2 = render.place_pops(x, rng2, truth.second_crack_pop_times_s, local, frame,
                             p["pop_snr_target_db"] + p["second_snr_offset_db"],
                             p["pop_snr_spread_db"], rows2, sr)
    if p["stereo_on"]:
        x = chain.stereo_downmix(x, p["stereo_delay_ms"], p["stereo_gain"], sr)
        events = chain.stereo_downmix(events, p["stereo_room_delay_ms"], p["stereo_gain"], sr)
    x *= gate
    x += events
    x, measured = chain.finish(x, p, seed, SAMPLE_RATE)

    def audible(times: list[float], snr: np.ndarray) -> np.ndarray:
        idx = np.minimum((np.asarray(times) * sr).astype(np.int64), n - 1)
        return snr[gate[idx] > 0.5] if len(times) else snr

    a1, a2 = audible(truth.pop_times_s, snr1), audible(truth.second_crack_pop_times_s, snr2)
    rms = float(np.sqrt(chain.mean_square(x)))
    p.update({
        **measured,
        "level_dbfs": round(20 * math.log10(rms + 1e-12), 2),
        "peak_dbfs": round(20 * math.log10(float(np.abs(x).max()) + 1e-12), 2),
        "n_pops": len(truth.pop_times_s),
        "n_second_crack_pops": len(truth.second_crack_pop_times_s),
        "pop_family_counts": counts,
        "pop_snr_db": [round(float(v), 1) for v in snr1],
        **_snr_stats("pop_snr_db", a1),
        "second_crack_snr_db_median": round(float(np.median(a2)), 2) if a2.size else None,
        "event_levels_db": levels,
    })
    return x, RoastTruth(**{**truth.__dict__, "params": p})


def write_roast(path: str | Path, seed: int, duration_s: float | None = None, crack: bool = True,
                second_crack: bool | None = None, sparse: bool | None = None,
                sample_rate: int = SAMPLE_RATE, channels: int = 1) -> tuple[Path, Path]:
    """Write PATH (16-bit PCM WAV) and PATH with a .json suffix (the annotation).

    The file is 16 kHz mono unless ``sample_rate`` (8000-48000 Hz) or ``channels`` (1 or 2)
    say otherwise, e.g. 44100 and 2 for a file like a laptop's recording; the agent's file
    reader resamples and downmixes it back. Two channels differ slightly in time but
    average to the simulated mono signal. Times in the JSON are seconds either way; it
    records ``file_sample_rate`` and ``file_channels``.
    """
    wav = Path(path)
    if wav.suffix.lower() != ".wav":
        raise SimulatorError(f"output path must end in .wav, got {str(path)!r}")
    if (isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer)
            or not 8000 <= sample_rate <= 48000):
        raise SimulatorError(f"sample_rate must be an integer 8000-48000 Hz, got "
                             f"{sample_rate!r}")
    if channels not in (1, 2) or isinstance(channels, bool):
        raise SimulatorError(f"channels must be 1 or 2, got {channels!r}")
    audio, truth = simulate_roast(seed, duration_s, crack, second_crack, sparse)
    wav.parent.mkdir(parents=True, exist_ok=True)
    data = chain.stereo_file(audio, SAMPLE_RATE, int(sample_rate), channels)
    sf.write(wav, data if channels == 2 else data[:, 0], int(sample_rate), subtype="PCM_16")
    js = wav.with_suffix(".json")
    ann = {**truth.to_annotation(wav.name), "file_sample_rate": int(sample_rate),
           "file_channels": channels}
    js.write_text(json.dumps(ann, indent=1))
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
