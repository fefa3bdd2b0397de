"""Per-seed draws that widen the simulated world beyond one drum roaster in one quiet room:
room sounds and the recording chain (capture rate, stereo pair, AGC, clipping, a lossy
codec). Like ``models.sim.timeline`` this draws no audio, and every draw comes from its own
sub-stream so the draws of one part never reshuffle another.

Everything returned is JSON-able and ends up in the truth ``params`` (or, for room sounds,
in ``events``), so a roast's conditions can be read back from its JSON.
"""

from __future__ import annotations

import numpy as np

from firstcrack.models.sim.timeline import Stream, rng_for

ROOM_KINDS = ("hood", "music", "spoon_tap", "tumble_click")
CAPTURE_RATES_HZ = (8000, 11025, 16000, 22050, 32000, 44100, 48000)
_CAPTURE_P = (0.1, 0.1, 0.25, 0.1, 0.1, 0.2, 0.15)


def draw_room_events(seed: int, duration_s: float, roaster: dict) -> list[dict]:
    """Room sounds as events ``{"kind", "start_s", "end_s"}`` (kinds in ``ROOM_KINDS``).

    About 30 % of roasts run an extractor hood (usually from the start to the end), about
    25 % have music (one to three 15-120 s stretches), spoon taps come about once in
    8 minutes, and drum, paddle and fluid-bed roasters get stretches of tumble clicks.
    """
    rng = rng_for(seed, Stream.ROOM)
    per_min = duration_s / 60.0
    events: list[dict] = []

    def add(kind: str, start: float, length: float) -> None:
        start = float(np.clip(start, 0.0, max(0.0, duration_s - length - 0.5)))
        events.append({"kind": kind, "start_s": round(start, 3),
                       "end_s": round(min(start + length, duration_s), 3)})

    if rng.random() < 0.3:
        a = 0.0 if rng.random() < 0.6 else rng.uniform(0, 0.6 * duration_s)
        b = duration_s if rng.random() < 0.7 else rng.uniform(a + 0.2 * (duration_s - a),
                                                               duration_s)
        add("hood", a, max(b - a, 5.0))
    if rng.random() < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            length = min(rng.uniform(15, 120), duration_s - 1.0)
            add("music", rng.uniform(0, duration_s - length), length)
    for _ in range(rng.poisson(0.12 * per_min)):
        add("spoon_tap", rng.uniform(0.5, duration_s), rng.uniform(0.05, 1.8))
    clicky = roaster["drum_hz"] > 0 or roaster["roaster_type"] == "fluid_bed"
    for _ in range(rng.poisson(0.1 * per_min) if clicky else 0):
        add("tumble_click", rng.uniform(0.5, duration_s), rng.uniform(3.0, 30.0))
    events.sort(key=lambda e: (e["start_s"], e["kind"]))
    return events


def draw_chain(seed: int) -> dict:
    """The recording chain after the microphone capsule (JSON-able; off stages are None).

    - ``capture_rate_hz``: the device's sample rate, 8-48 kHz. Below 16 kHz the audio is
      band-limited to 0.45x that rate (the device's anti-alias filter); above, the 16 kHz
      signal already holds all the agent keeps.
    - ``stereo_*`` (30 %): a spaced pair downmixed to mono; roaster and room sounds reach the
      two capsules ``stereo_delay_ms`` / ``stereo_room_delay_ms`` apart, the far one
      ``stereo_gain`` as loud. The downmix comb-filters each.
    - ``agc_*`` (35 %): slow gain riding towards the recording level, time constant
      ``agc_time_s``, boosting by at most ``agc_max_boost_db``.
    - ``clip_*`` (15 %): the input gain set so that the loudest peak would overshoot full
      scale by ``clip_overdrive_db``, clipped hard or softly (tanh).
    - ``codec_*`` (25 %): a crude lossy codec: STFT frames of ``codec_frame``, nothing above
      ``codec_bandwidth_hz``, magnitudes quantised to ``codec_levels`` steps below each
      frame's peak on a |X|^0.75 scale, so quiet bins vanish and transients smear.
    """
    rng = rng_for(seed, Stream.CHAIN)
    rate = int(rng.choice(CAPTURE_RATES_HZ, p=_CAPTURE_P))
    stereo, agc, clip, codec = (rng.random() < p for p in (0.3, 0.35, 0.15, 0.25))
    draws = {
        "stereo_delay_ms": round(float(rng.uniform(0.05, 1.0)), 3),
        "stereo_room_delay_ms": round(float(rng.uniform(0.05, 1.0)), 3),
        "stereo_gain": round(float(rng.uniform(0.5, 1.0)), 3),
        "agc_time_s": round(float(np.exp(rng.uniform(np.log(0.5), np.log(8.0)))), 3),
        "agc_max_boost_db": round(float(rng.uniform(6, 30)), 2),
        "agc_strength": round(float(rng.uniform(0.5, 1.0)), 3),
        "clip_overdrive_db": round(float(rng.uniform(1, 12)), 2),
        "clip_soft": bool(rng.random() < 0.5),
        "codec_frame": int(rng.choice([256, 512, 1024])),
        "codec_bandwidth_hz": round(float(rng.uniform(3400, 8000)), 1),
        "codec_levels": int(rng.integers(4, 40)),
    }
    on = {"stereo": stereo, "agc": agc, "clip": clip, "codec": codec}
    chain: dict = {"capture_rate_hz": rate}
    for key, value in draws.items():
        chain[key] = value if on[key.split("_")[0]] else None
    chain.update({f"{k}_on": bool(v) for k, v in on.items()})
    return chain
