"""The roast simulator honours the published facts of labelled home roasts, is varied across
seeds, deterministic per seed, and writes audio/annotation files the rest of the project reads.

Timeline statistics use ``draw_timeline`` (no audio) over hundreds of seeds; audio checks use
short roasts plus one full-length render. The published crack statistics describe a dense,
bursty crack, so those checks look at the dense roasts; sparse first crack has its own tests
in ``test_sim_sparse.py``.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import pytest
import soundfile as sf

from firstcrack.models.sim import sounds as sim_sounds
from firstcrack.models.sim.simulator import (
    SAMPLE_RATE,
    RoastTruth,
    SimulatorError,
    draw_timeline,
    load_truth,
    simulate_roast,
    write_roast,
)

SEEDS = range(200)
SHORT_S = 120.0


@cache
def timelines() -> list[RoastTruth]:
    return [draw_timeline(s) for s in SEEDS]


@cache
def dense_timelines() -> list[RoastTruth]:
    """The seeds' roasts with their first crack forced dense (the published statistics)."""
    return [draw_timeline(s, sparse=False) for s in SEEDS]


@cache
def short_roast(seed: int, crack: bool = True, second_crack: bool | None = None,
                sparse: bool | None = False) -> tuple[np.ndarray, RoastTruth]:
    return simulate_roast(seed, SHORT_S, crack=crack, second_crack=second_crack, sparse=sparse)


def pop_rate(pops: np.ndarray, a: float, b: float) -> float:
    """Pops per second in [a, b)."""
    return float(np.sum((pops >= a) & (pops < b)) / (b - a))


def measured_pop_snr(x: np.ndarray, truth: RoastTruth) -> np.ndarray:
    """Per pop, from the audio alone: peak |x| in the 15 ms after the pop over the RMS of the
    surrounding second with every pop and distractor cut out, in dB."""
    sr = SAMPLE_RATE
    quiet = np.ones(x.size, bool)
    for t in [*truth.pop_times_s, *truth.second_crack_pop_times_s]:
        quiet[max(0, int((t - 0.005) * sr)):int((t + 0.04) * sr)] = False
    for e in truth.events:
        quiet[max(0, int((e["start_s"] - 0.1) * sr)):int((e["end_s"] + 0.3) * sr)] = False
    out = []
    for t in truth.pop_times_s:
        if any(e["start_s"] - 0.1 <= t <= e["end_s"] + 0.3 for e in truth.events):
            continue
        s = int(t * sr)
        lo, hi = max(0, s - sr // 2), min(x.size, s + sr // 2)
        if quiet[lo:hi].sum() < sr // 4:
            continue
        rms = np.sqrt(np.mean(np.square(x[lo:hi][quiet[lo:hi]], dtype=np.float64)))
        out.append(20 * np.log10(np.abs(x[s:s + int(0.015 * sr)]).max() / rms))
    return np.asarray(out)


# --- timeline (truth only) -------------------------------------------------------------------

def test_full_length_roasts_honour_published_ranges() -> None:
    """Roasts 575-908 s, onset 398-790 s, crack 57-220 s (median about 100 s), inside."""
    lengths = []
    for t in dense_timelines():
        assert 575 <= t.duration <= 908
        assert 398 <= t.first_crack_onset_s <= 790
        length = t.first_crack_end_s - t.first_crack_onset_s
        assert 57 - 1e-6 <= length <= 220 + 1e-6
        assert t.first_crack_end_s < t.duration
        pops = np.asarray(t.pop_times_s)
        assert np.all(np.diff(pops) >= 0)
        assert pops[0] == t.first_crack_onset_s and pops[-1] == t.first_crack_end_s
        lengths.append(length)
    assert 80 <= np.median(lengths) <= 125
    assert np.ptp([t.first_crack_onset_s for t in timelines()]) > 250  # spread, not fixed
    for t in timelines():  # sparse or dense, the crack sits in the published onset range
        assert 398 <= t.first_crack_onset_s <= 790 and t.first_crack_end_s < t.duration


@pytest.mark.parametrize("duration", [40.0, 120.0, 300.0])
def test_short_roasts_scale_the_timeline_and_keep_the_crack_inside(duration: float) -> None:
    for seed in range(30):
        t = draw_timeline(seed, duration)
        assert 0.4 * duration <= t.first_crack_onset_s <= 0.8 * duration
        assert t.first_crack_end_s < duration
        assert len(t.pop_times_s) >= 2
        if t.second_crack_onset_s is not None:
            assert t.first_crack_end_s < t.second_crack_onset_s
            assert max(t.second_crack_pop_times_s) < duration


def test_pop_rate_is_sparse_at_onset_and_tapers_at_the_end() -> None:
    """Rate in the first and last 15 % of the crack is below the rate in its middle."""
    ramp_ok = taper_ok = 0
    for t in dense_timelines():
        pops = np.asarray(t.pop_times_s)
        a, b = t.first_crack_onset_s, t.first_crack_end_s
        d = b - a
        middle = pop_rate(pops, a + 0.35 * d, a + 0.65 * d)
        ramp_ok += pop_rate(pops, a, a + 0.15 * d) < 0.6 * middle
        taper_ok += pop_rate(pops, b - 0.15 * d, b + 1e-6) < middle
    assert ramp_ok >= 0.95 * len(SEEDS)
    assert taper_ok >= 0.9 * len(SEEDS)


def test_cracking_comes_in_bursts_with_bounded_gaps() -> None:
    """Multi-pop bursts last 1.3-5.8 s; no silence between first-crack pops exceeds 9 s."""
    for t in dense_timelines():
        pops = np.asarray(t.pop_times_s)
        assert np.diff(pops).max() <= 9.0
        bursts = [(a, b) for a, b in t.params["first_crack_bursts_s"] if b > a]
        assert len(bursts) >= 5
        for a, b in bursts:
            assert 1.3 - 1e-3 <= b - a <= 5.8 + 1e-3
            inside = pops[(pops >= a - 1e-6) & (pops <= b + 1e-6)]
            assert inside.size >= 2


def test_second_crack_is_later_faster_and_drawn_for_some_roasts() -> None:
    seconds = [t for t in timelines() if t.second_crack_onset_s is not None]
    assert 0.2 * len(SEEDS) <= len(seconds) <= 0.6 * len(SEEDS)
    for t in seconds:
        assert 20 - 1e-6 <= t.second_crack_onset_s - t.first_crack_end_s <= 130 + 1e-6
        first = len(t.pop_times_s) / (t.first_crack_end_s - t.first_crack_onset_s)
        p2 = np.asarray(t.second_crack_pop_times_s)
        assert p2[-1] < t.duration
        assert len(p2) / (p2[-1] - p2[0]) > 2.0 * first
    forced = draw_timeline(3, second_crack=True)
    assert forced.second_crack_onset_s is not None
    assert draw_timeline(3, second_crack=False).second_crack_onset_s is None


def test_no_crack_roasts_have_no_pops_and_no_annotations() -> None:
    for seed in range(20):
        t = draw_timeline(seed, crack=False)
        assert t.first_crack_onset_s is None and t.first_crack_end_s is None
        assert t.pop_times_s == [] and t.second_crack_pop_times_s == []
        assert t.to_annotation("x.wav")["annotations"] == []
        assert t.events == draw_timeline(seed).events  # same distractors as its crack twin
    with pytest.raises(SimulatorError, match="second_crack"):
        draw_timeline(1, crack=False, second_crack=True)


def test_distractors_are_varied_and_isolated_transients_stay_sparse() -> None:
    kinds = {e["kind"] for t in timelines() for e in t.events}
    assert kinds == {"clank", "tick", "talk", "door", "handling_silence", "setting_change",
                     "hood", "music", "spoon_tap", "tumble_click"}
    for t in timelines():
        clanks = np.array([e["start_s"] for e in t.events if e["kind"] == "clank"])
        for c in clanks:  # never a burst of clanks that could pass for cracking
            assert np.sum(np.abs(clanks - c) < 5.0) <= 3
        for e in t.events:
            assert 0 <= e["start_s"] <= e["end_s"] <= t.duration


def test_drum_ticks_are_slow_and_regular_unlike_pops() -> None:
    rng = np.random.default_rng(0)
    x = sim_sounds.tick_train(rng, 20.0, 0.8, SAMPLE_RATE)
    env = np.abs(x).reshape(-1, SAMPLE_RATE // 100).max(axis=1)  # 10 ms frames
    onsets = np.flatnonzero((env[1:] > 0.3) & (env[:-1] <= 0.3)) / 100.0
    assert 20 <= onsets.size <= 26  # one per drum turn, nothing like a burst
    assert np.std(np.diff(onsets)) < 0.05


# --- audio -----------------------------------------------------------------------------------

def test_audio_is_mono_float32_clip_safe_and_at_a_plausible_level() -> None:
    for seed in range(6):
        x, t = short_roast(seed)
        assert x.dtype == np.float32 and x.ndim == 1
        assert x.size == round(SHORT_S * SAMPLE_RATE)
        assert np.abs(x).max() <= 1.0
        rms_db = 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        assert -50 <= rms_db <= -10
        assert abs(rms_db - t.params["level_dbfs"]) < 0.5


def clean_seeds(k: int) -> list[int]:
    """The first ``k`` seeds whose short roast can be measured against its truth: no codec,
    clipping, AGC, stereo pair or band limit, no hood or music all along, and pops loud
    enough (median 13 dB or more) to stand out of the background's own peaks in 15 ms."""
    out = []
    for seed in range(1000):
        p = draw_timeline(seed, SHORT_S, sparse=False).params
        events = draw_timeline(seed, SHORT_S).events
        if (not any(p[f"{c}_on"] for c in ("codec", "clip", "agc", "stereo"))
                and p["capture_rate_hz"] >= SAMPLE_RATE and p["pop_snr_target_db"] >= 13
                and not any(e["kind"] in ("hood", "music") for e in events)):
            out.append(seed)
        if len(out) == k:
            return out
    raise AssertionError("too few clean seeds")


def test_pops_sit_at_their_drawn_snr_measured_from_audio() -> None:
    medians = []
    for seed in clean_seeds(8):
        x, t = short_roast(seed)
        snr = measured_pop_snr(x, t)
        assert snr.size >= 20
        medians.append(np.median(snr))
        assert abs(np.median(snr) - t.params["pop_snr_db_median"]) < 3.0
    assert all(8 <= m <= 30 for m in medians)
    assert np.ptp(medians) > 3  # easy and hard roasts both occur


def test_pop_snr_spans_minus_5_to_30_db_and_is_recorded_per_pop() -> None:
    targets = [t.params["pop_snr_target_db"] for t in timelines()]
    assert min(targets) < 2 and max(targets) > 22  # barely audible to loud
    lows = 0
    for seed in range(6):
        _, t = short_roast(seed)
        snr = np.asarray(t.params["pop_snr_db"])
        assert snr.size == len(t.pop_times_s)
        assert -5 - 0.05 <= snr.min() and snr.max() <= 30 + 0.05
        assert t.params["pop_snr_db_min"] <= t.params["pop_snr_db_median"]
        assert t.params["pop_snr_db_median"] <= t.params["pop_snr_db_max"]
        lows += t.params["pop_snr_db_p10"] < 5
    assert lows >= 1  # some roasts really are hard


def test_pops_are_missing_from_no_crack_audio_which_shares_the_background() -> None:
    seed = clean_seeds(1)[0]
    x, t = short_roast(seed)
    y, _ = short_roast(seed, crack=False)
    s = int((t.first_crack_onset_s - 20) * SAMPLE_RATE)
    before = np.corrcoef(x[:s], y[:s])[0, 1]
    assert before > 0.99  # same background and distractors before the crack
    pops = measured_pop_snr(x, t)
    no_pops = measured_pop_snr(y, t)  # the same instants in the no-crack twin
    assert np.median(pops) > np.median(no_pops) + 3


def test_second_crack_pops_are_quieter_and_higher_pitched() -> None:
    x, t = short_roast(11, second_crack=True)
    assert t.second_crack_pop_times_s

    def centroid(times: list[float]) -> float:
        n = int(0.008 * SAMPLE_RATE)
        spec = np.zeros(n // 2 + 1)
        for p in times:
            s = int(p * SAMPLE_RATE)
            spec += np.abs(np.fft.rfft(x[s:s + n] * np.hanning(n))) ** 2
        f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
        return float(np.sum(f * spec) / np.sum(spec))

    assert centroid(t.second_crack_pop_times_s) > centroid(t.pop_times_s) + 200
    assert t.params["second_crack_snr_db_median"] < t.params["pop_snr_db_median"]


def test_same_seed_same_samples_and_different_seeds_differ() -> None:
    a, ta = simulate_roast(21, 30.0)
    b, tb = simulate_roast(21, 30.0)
    assert np.array_equal(a, b) and ta == tb
    keys = ("roaster_type", "hum_f0_hz", "mic_lowpass_hz", "target_level_dbfs")
    params = {tuple(draw_timeline(s).params[k] for k in keys) for s in range(10)}
    assert len(params) == 10


def test_roasters_and_microphones_vary_across_seeds() -> None:
    ps = [t.params for t in timelines()[:20]]
    assert len({p["roaster_type"] for p in ps}) >= 3
    lowpass = [p["mic_lowpass_hz"] for p in ps]
    assert min(lowpass) >= 3500 and max(lowpass) <= 8000 and np.ptp(lowpass) > 2000
    highpass = [p["mic_highpass_hz"] for p in ps]
    assert min(highpass) >= 20 and max(highpass) <= 200 and np.ptp(highpass) > 60
    assert np.ptp([p["target_level_dbfs"] for p in ps]) > 15
    assert np.ptp([p["hum_f0_hz"] for p in ps]) > 40


def test_full_length_roast_renders_with_its_crack() -> None:
    x, t = simulate_roast(2)
    assert x.size == round(t.duration * SAMPLE_RATE)
    assert 575 <= t.duration <= 908 and 398 <= t.first_crack_onset_s <= 790
    assert np.abs(x).max() <= 1.0
    assert 3 <= t.params["pop_snr_db_median"] <= 25
    assert t.params["n_pops"] == len(t.pop_times_s)


# --- files and errors ------------------------------------------------------------------------

def test_write_roast_round_trips_wav_and_annotation(tmp_path) -> None:
    wav, js = write_roast(tmp_path / "r.wav", 7, 40.0)
    assert js == tmp_path / "r.json"
    audio, sr = sf.read(wav, dtype="float32")
    info = sf.info(wav)
    assert sr == SAMPLE_RATE and info.subtype == "PCM_16" and info.channels == 1
    x, truth = simulate_roast(7, 40.0)
    assert np.max(np.abs(audio - x)) < 2 / 32768
    assert load_truth(js) == truth == load_truth(wav)
    ann = json.loads(js.read_text())
    assert ann["audio_file"] == "r.wav" and ann["duration"] == 40.0
    first = [a for a in ann["annotations"] if a["label"] == "first_crack"]
    assert first == [{"start_time": truth.first_crack_onset_s,
                      "end_time": truth.first_crack_end_s, "label": "first_crack"}]
    assert {a["label"] for a in ann["annotations"]} <= {"first_crack", "second_crack"}

    wav2, js2 = write_roast(tmp_path / "n.wav", 7, 40.0, crack=False)
    ann2 = json.loads(js2.read_text())
    assert ann2["annotations"] == [] and ann2["first_crack_onset_s"] is None
    assert ann2["pop_times_s"] == []


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"seed": 1, "duration_s": float("nan")}, "duration_s"),
    ({"seed": 1, "duration_s": 5.0}, "duration_s"),
])
def test_bad_arguments_raise_a_named_error(kwargs: dict, match: str) -> None:
    with pytest.raises(SimulatorError, match=match):
        simulate_roast(**kwargs)


def test_file_errors_name_the_path(tmp_path) -> None:
    with pytest.raises(SimulatorError, match="out.mp3"):
        write_roast(tmp_path / "out.mp3", 1, 30.0)
    with pytest.raises(SimulatorError, match="missing.json"):
        load_truth(tmp_path / "missing.json")
