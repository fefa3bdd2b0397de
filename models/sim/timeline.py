"""Everything about a simulated roast that is not audio: durations, the roaster and
microphone and the distractor schedule (the pop times are drawn in ``firstcrack.models.sim.crack``).

Kept apart from the synthesis so that ground truth for hundreds of seeds can be drawn in
milliseconds (tests check the timeline statistics without rendering audio).

Every quantity comes from its own random sub-stream, ``np.random.default_rng([seed, stream])``,
so a crack and a no-crack roast with the same seed share roaster, microphone, distractors and
background, and differ only in the pops.

All times are seconds from the start of the recording; all levels are dB.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

# Published facts from 21 labelled home roasts on one drum roaster.
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

ROASTER_TYPES = ("small_drum", "large_drum", "fluid_bed", "popcorn_popper",
                 "heatgun_breadmachine")
_ROASTER_P = (0.3, 0.2, 0.2, 0.15, 0.15)
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
    SPARSE_CHOICE = 13
    SPARSE = 14
    POP_MIX = 15
    ROOM = 16
    CHAIN = 17
    ROOM_AUDIO = 18
    POP_FAMILY_AUDIO = 19


def rng_for(seed: int, stream: Stream) -> np.random.Generator:
    """An independent, reproducible generator for one aspect of one roast."""
    return np.random.default_rng([seed, int(stream)])


def draw_duration(seed: int) -> float:
    """Roast length in seconds, uniform over the published 575-908 s."""
    return float(round(rng_for(seed, Stream.DURATION).uniform(ROAST_MIN_S, ROAST_MAX_S), 2))


def draw_roaster(seed: int) -> dict:
    """The roaster archetype and its steady-noise recipe (JSON-able, recorded in params).

    Levels are relative to the airflow noise (0 dB) before the microphone. The heat gun and
    bread machine is a popular home set-up: the heat gun's universal motor whines over
    loud airflow, the bread machine's paddle stirs the beans (``drum_hz`` is its rotation)
    through a gearbox that adds a high whine (the "fan" tone here).
    """
    rng = rng_for(seed, Stream.ROASTER)
    kind = ROASTER_TYPES[int(rng.choice(len(ROASTER_TYPES), p=_ROASTER_P))]
    drum = kind in ("small_drum", "large_drum", "heatgun_breadmachine")
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
    elif kind == "popcorn_popper":  # universal motor whine over a very loud airflow
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(90, 120), 0.0, rng.uniform(-8, 2), -99.0, rng.uniform(-2.5, 0.0))
    else:  # heat gun motor (f0 = its rotation) over a bread machine paddle (drum_hz)
        f0, drum_hz, hum_db, rumble_db, slope = (
            rng.uniform(150, 400), rng.uniform(0.8, 2.5), rng.uniform(-10, 0),
            rng.uniform(-15, -6), rng.uniform(-2.5, 0.0))
    n_bumps = int(rng.integers(2, 5))
    out = {
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
    if kind == "heatgun_breadmachine":
        out.update(drum_vanes=int(rng.integers(1, 3)),  # a paddle has one or two blades
                   bean_hiss_depth=round(float(rng.uniform(0.1, 0.4)), 3),
                   fan_f0_hz=round(float(rng.uniform(400, 1200)), 2),
                   fan_level_db=round(float(rng.uniform(-20, -8)), 2))
    return out


def draw_mic(seed: int) -> dict:
    """Microphone band-limit, target level and self-noise, and the pops' SNR (JSON-able).

    The pops' median SNR (peak over the local steady background) is drawn from -2 to 26 dB
    and each pop spreads around it, held to -5..30 dB: from barely audible to loud.
    """
    rng = rng_for(seed, Stream.MIC)
    return {
        "mic_highpass_hz": round(float(np.exp(rng.uniform(np.log(20), np.log(200)))), 1),
        "mic_lowpass_hz": round(float(rng.uniform(3500, 8000)), 1),
        "mic_presence_db": round(float(rng.uniform(-2, 6)), 2),
        "mic_presence_hz": round(float(rng.uniform(2000, 5000)), 1),
        "target_level_dbfs": round(float(rng.uniform(-45, -12)), 2),
        "self_noise_dbfs": round(float(rng.uniform(-92, -72)), 2),
        "pop_snr_target_db": round(float(rng.uniform(-2, 26)), 2),
        "pop_snr_spread_db": round(float(rng.uniform(2.5, 6)), 2),
        "second_snr_offset_db": round(float(rng.uniform(-9, -4)), 2),
    }


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
