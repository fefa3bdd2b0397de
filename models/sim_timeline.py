"""Everything about a simulated roast that is not audio: durations, the roaster and
microphone, the first/second-crack pop times and the distractor schedule.

Kept apart from the synthesis so that ground truth for hundreds of seeds can be drawn in
milliseconds (tests check the timeline statistics without rendering audio).

Every quantity comes from its own random sub-stream, ``np.random.default_rng([seed, stream])``,
so a crack and a no-crack roast with the same seed share roaster, microphone, distractors and
background, and differ only in the pops.

All times are seconds from the start of the recording; all levels are dB.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

# Facts from DESIGN.md section 8 (21 labelled home roasts, one drum roaster).
ROAST_MIN_S = 575.0
ROAST_MAX_S = 908.0
ONSET_MIN_S = 398.0
ONSET_MAX_S = 790.0
CRACK_MIN_S = 57.0
CRACK_MAX_S = 220.0
CRACK_MEDIAN_S = 100.0
BURST_MIN_S = 1.3
BURST_MAX_S = 5.8
GAP_MAX_S = 8.9  # published: gaps of up to 9 s (margin for rounding)
SECOND_GAP_MIN_S = 20.0
SECOND_GAP_MAX_S = 130.0
# Shorter roasts than this cannot hold the published onset range, so the timeline is scaled.
FULL_TIMELINE_MIN_S = 480.0
END_MARGIN_S = 3.0

ROASTER_TYPES = ("small_drum", "large_drum", "fluid_bed", "popcorn_popper")
EVENT_KINDS = ("clank", "tick", "talk", "door", "handling_silence", "setting_change")


class Stream(IntEnum):
    """Sub-stream ids: changing how one thing is drawn must not reshuffle the others."""

    DURATION = 1
    ROASTER = 2
    MIC = 3
    EVENTS = 4
    CRACK = 5
    SECOND = 6
    BACKGROUND_AUDIO = 7
    POP_AUDIO = 8
    EVENT_AUDIO = 9
    SECOND_AUDIO = 10
    SECOND_CHOICE = 11
    SELF_NOISE = 12


def rng_for(seed: int, stream: Stream) -> np.random.Generator:
    """An independent, reproducible generator for one aspect of one roast."""
    return np.random.default_rng([seed, int(stream)])


@dataclass(frozen=True)
class Crack:
    """One cracking phase. ``bursts_s`` lists (start, end) of each cluster of pops; a single
    isolated pop is a cluster with start == end. Onset/end are the first/last pop."""

    onset_s: float
    end_s: float
    pop_times_s: np.ndarray
    bursts_s: list[tuple[float, float]]


def draw_duration(seed: int) -> float:
    """Roast length in seconds, uniform over the published 575-908 s."""
    return float(round(rng_for(seed, Stream.DURATION).uniform(ROAST_MIN_S, ROAST_MAX_S), 2))


def draw_roaster(seed: int) -> dict:
    """The roaster archetype and its steady-noise recipe (JSON-able, recorded in params).

    Levels are relative to the airflow noise (0 dB) before the microphone.
    """
    rng = rng_for(seed, Stream.ROASTER)
    kind = ROASTER_TYPES[int(rng.integers(len(ROASTER_TYPES)))]
    drum = kind in ("small_drum", "large_drum")
    if kind == "small_drum":
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(45, 120), rng.uniform(0.8, 1.5), rng.uniform(-14, -2),
            rng.uniform(-12, -3), rng.uniform(-5, -2))
    elif kind == "large_drum":
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(25, 60), rng.uniform(0.5, 0.9), rng.uniform(-12, 0),
            rng.uniform(-6, 3), rng.uniform(-6, -3))
    elif kind == "fluid_bed":
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(60, 120), 0.0, rng.uniform(-16, -6), -99.0, rng.uniform(-3, -0.5))
    else:  # popcorn popper: universal motor whine over a very loud airflow
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(90, 120), 0.0, rng.uniform(-8, 2), -99.0, rng.uniform(-2.5, 0.0))
    n_bumps = int(rng.integers(2, 5))
    return {
        "roaster_type": kind,
        "drum_hz": round(float(drum_hz), 3),
        "drum_vanes": int(rng.integers(2, 5)) if drum else 0,
        "hum_f0_hz": round(float(f0), 2),
        "hum_level_db": round(float(hum_db), 2),
        "hum_rolloff": round(float(rng.uniform(0.6, 1.6)), 3),
        "fan_f0_hz": round(float(f0 * rng.uniform(1.7, 3.3)), 2) if rng.random() < 0.5 else None,
        "fan_level_db": round(float(hum_db - rng.uniform(3, 10)), 2),
        "rumble_level_db": round(float(rumble_db), 2),
        "airflow_slope_db_per_oct": round(float(slope), 2),
        "airflow_knee_hz": round(float(rng.uniform(120, 500)), 1),
        "airflow_bumps": [
            [round(float(rng.uniform(150, 5000)), 1), round(float(rng.uniform(2, 9)), 2),
             round(float(rng.uniform(0.2, 0.9)), 3)]
            for _ in range(n_bumps)
        ],
        "bean_hiss_depth": round(float(rng.uniform(0.04, 0.25)), 3) if drum else 0.0,
        "drift_db": round(float(rng.uniform(0.5, 2.5)), 2),
        "pop_centre_hz": round(float(rng.uniform(550, 1300)), 1),
        "pop_muffle_hz": round(float(rng.uniform(2500, 7000)), 1),
        "body_reverb_ms": round(float(rng.uniform(3, 25)), 2),
        "body_reverb_db": round(float(rng.uniform(-18, -6)), 2),
        "second_centre_hz": round(float(rng.uniform(1700, 3500)), 1),
    }


def draw_mic(seed: int) -> dict:
    """Microphone band-limit, target level and self-noise (JSON-able)."""
    rng = rng_for(seed, Stream.MIC)
    return {
        "mic_highpass_hz": round(float(np.exp(rng.uniform(np.log(20), np.log(200)))), 1),
        "mic_lowpass_hz": round(float(rng.uniform(3500, 8000)), 1),
        "mic_presence_db": round(float(rng.uniform(-2, 6)), 2),
        "mic_presence_hz": round(float(rng.uniform(2000, 5000)), 1),
        "target_level_dbfs": round(float(rng.uniform(-45, -12)), 2),
        "self_noise_dbfs": round(float(rng.uniform(-92, -72)), 2),
        "pop_snr_target_db": round(float(rng.uniform(9, 21)), 2),
        "pop_snr_spread_db": round(float(rng.uniform(2.5, 5)), 2),
        "second_snr_offset_db": round(float(rng.uniform(-9, -4)), 2),
    }


def _envelope(u: float, shape: tuple[float, float, float, float]) -> float:
    """Cracking intensity (0-1] at fraction u of the crack: sparse onset, bursts, taper."""
    u1, u2, u3, floor = shape
    if u < u1:
        return 0.12 + 0.38 * (u / u1) ** 1.5
    if u < u2:
        return 0.5 + 0.5 * (u - u1) / (u2 - u1)
    if u < u3:
        return 1.0
    return 1.0 - (1.0 - floor) * ((u - u3) / (1.0 - u3)) ** 0.9


def _bursty_pops(
    rng: np.random.Generator, length_s: float, peak_rate: float, gap_scale: float,
    burst_range: tuple[float, float], gap_max: float,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Pop times (relative, sorted, first at 0 and last at ``length_s``) arranged in clusters.

    Isolated pops dominate the sparse onset and the taper; the middle is bursts of
    ``burst_range`` seconds separated by short gaps. No gap between pops exceeds ``gap_max``.
    """
    u1 = rng.uniform(0.10, 0.22)
    shape = (u1, u1 + rng.uniform(0.06, 0.15), rng.uniform(0.45, 0.70), rng.uniform(0.12, 0.3))
    lo, hi = burst_range
    times: list[np.ndarray] = []
    bursts: list[tuple[float, float]] = []
    t = 0.0
    while True:
        g = _envelope(t / length_s, shape)
        remaining = length_s - t
        single = remaining < lo or rng.random() < np.clip(0.9 - 1.1 * g, 0.02, 0.85)
        dur = 0.0 if single else min(float(np.clip(rng.lognormal(np.log(2.6), 0.45), lo, hi)),
                                     remaining)
        if single:
            times.append(np.array([t]))
        else:
            n_inner = rng.poisson(peak_rate * (0.35 + 0.65 * g) * dur)
            inner = t + dur * rng.beta(1.4, 1.4, size=n_inner)
            times.append(np.concatenate([[t, t + dur], inner]))
        bursts.append((t, t + dur))
        t_end = t + dur
        if t_end >= length_s - 1e-9:
            break
        med_gap = gap_scale * (1.0 + 5.0 * (1.0 - g) ** 1.5)
        gap = float(np.clip(med_gap * rng.lognormal(0.0, 0.35), 0.3, gap_max))
        if t_end + gap >= length_s - 0.3:
            times.append(np.array([length_s]))
            bursts.append((length_s, length_s))
            break
        t = t_end + gap
    return np.sort(np.concatenate(times)), bursts


def _make_crack(
    rng: np.random.Generator, start_s: float, length_s: float, peak_rate: float,
    gap_scale: float, burst_range: tuple[float, float], gap_max: float,
) -> Crack:
    rel, bursts = _bursty_pops(rng, length_s, peak_rate, gap_scale, burst_range, gap_max)
    pops = np.round(start_s + rel, 4)
    return Crack(
        onset_s=float(pops[0]), end_s=float(pops[-1]), pop_times_s=pops,
        bursts_s=[(round(start_s + a, 4), round(start_s + b, 4)) for a, b in bursts],
    )


def draw_cracks(
    seed: int, duration_s: float, crack: bool, second_crack: bool | None
) -> tuple[Crack | None, Crack | None, str]:
    """First and second crack for one roast, plus the timeline mode ("full" or "scaled").

    Full-length roasts honour the published onset (398-790 s) and length (57-220 s) ranges.
    Short roasts (tests, demos) scale the macro timeline (onset at 55-80 % of the roast, the
    crack fitting inside) but keep the physical burst structure.
    """
    if not crack:
        return None, None, "none"
    rng = rng_for(seed, Stream.CRACK)
    length = float(np.clip(rng.lognormal(np.log(CRACK_MEDIAN_S), 0.33), CRACK_MIN_S, CRACK_MAX_S))
    gap2 = float(rng.uniform(SECOND_GAP_MIN_S, SECOND_GAP_MAX_S) ** 1.0)
    len2 = float(rng.uniform(15.0, 90.0))
    tail = float(rng.uniform(END_MARGIN_S, 45.0))
    frac = float(rng.uniform(0.0, 1.0))
    want2 = (rng_for(seed, Stream.SECOND_CHOICE).random() < 0.4
             if second_crack is None else bool(second_crack))

    if duration_s >= FULL_TIMELINE_MIN_S:
        mode = "full"
        if want2:  # reserve room after the crack for the gap and some second crack
            gap2 = min(gap2, max(SECOND_GAP_MIN_S, duration_s - ONSET_MIN_S - length - 20.0))
            tail = gap2 + 15.0
        room = min(ONSET_MAX_S, duration_s - tail) - ONSET_MIN_S
        if room < CRACK_MIN_S and want2 and second_crack is None:
            want2, tail = False, END_MARGIN_S
            room = min(ONSET_MAX_S, duration_s - tail) - ONSET_MIN_S
        length = min(length, max(CRACK_MIN_S, room))
        onset_hi = min(ONSET_MAX_S, duration_s - tail - length)
        onset = ONSET_MIN_S + frac * max(0.0, onset_hi - ONSET_MIN_S)
    else:
        mode = "scaled"
        scale = duration_s / 750.0
        margin = min(END_MARGIN_S, 0.05 * duration_s)
        gap2 = max(2.0, gap2 * scale)
        room2 = gap2 + max(3.0, 30.0 * scale)  # the gap plus some second crack
        if want2 and second_crack is None and 0.45 * duration_s - margin - room2 < 5.0:
            want2 = False
        onset_frac = rng.uniform(0.40, 0.55)
        onset = duration_s * (onset_frac if want2 else 0.55 + 0.25 * frac)
        room = duration_s - onset - margin - (room2 if want2 else 0.0)
        if room < 2.0:
            raise ValueError(f"duration_s={duration_s} is too short to hold a first crack"
                             + (" and a second crack" if want2 else ""))
        length = min(length, room * rng.uniform(0.8, 1.0))
    peak_rate = float(rng.uniform(4.0, 12.0))
    first = _make_crack(rng, onset, length, peak_rate, 1.0, (BURST_MIN_S, BURST_MAX_S), GAP_MAX_S)
    second = None
    if want2:
        rng2 = rng_for(seed, Stream.SECOND)
        start2 = first.end_s + gap2
        len2 = min(len2, duration_s - start2 - END_MARGIN_S)
        if len2 >= 2.0:
            mean_rate = len(first.pop_times_s) / max(first.end_s - first.onset_s, 1.0)
            rate2 = 5.0 * mean_rate * float(rng2.uniform(1.2, 2.0))
            second = _make_crack(rng2, start2, len2, rate2, 0.4, (2.0, 12.0), 3.0)
    return first, second, mode


def draw_events(seed: int, duration_s: float, roaster: dict) -> list[dict]:
    """Distractors at random times, in crack and no-crack roasts alike.

    ``clank`` spans 10-40 ms for a pop-like knock and 80-600 ms for a ringing clank; ``tick``
    is a stretch of ticks once per drum turn (drum roasters only).
    """
    rng = rng_for(seed, Stream.EVENTS)
    per_min = duration_s / 60.0
    drum = roaster["drum_hz"] > 0
    events: list[dict] = []

    def add(kind: str, start: float, length: float) -> None:
        start = float(np.clip(start, 0.5, max(0.5, duration_s - length - 0.5)))
        events.append({"kind": kind, "start_s": round(start, 3),
                       "end_s": round(min(start + length, duration_s), 3)})

    for _ in range(rng.poisson(0.35 * per_min * (1.4 if drum else 0.8))):
        knock = rng.random() < 0.45
        add("clank", rng.uniform(0, duration_s),
            rng.uniform(0.01, 0.04) if knock else rng.uniform(0.08, 0.6))
    if drum:
        for _ in range(rng.poisson(0.08 * per_min)):
            add("tick", rng.uniform(0, duration_s), rng.uniform(4.0, 40.0))
    for _ in range(rng.poisson(0.12 * per_min)):
        add("talk", rng.uniform(0, duration_s), rng.uniform(1.0, 6.0))
    if rng.random() < 0.35 * min(1.0, per_min / 10.0):
        add("door", rng.uniform(0, duration_s), rng.uniform(0.5, 2.5))
    for _ in range(rng.poisson(0.06 * per_min)):
        add("handling_silence", rng.uniform(0, duration_s), rng.uniform(0.3, 2.0))
    for _ in range(min(5, rng.poisson(0.18 * per_min))):
        add("setting_change", rng.uniform(5, duration_s), rng.uniform(0.3, 3.0))
    events.sort(key=lambda e: (e["start_s"], e["kind"]))
    return events
