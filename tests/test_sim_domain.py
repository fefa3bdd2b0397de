"""Domain randomisation in the simulator: roaster beds, room sounds, recording chains and pop
families all vary per seed, are recorded in the truth, and do what they claim to the audio.
The 44.1 kHz stereo files that ``write_roast`` can write read back through the agent."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.sources.file import FileSource
from firstcrack.models.sim import chain as sim_chain
from firstcrack.models.sim import room as sim_room
from firstcrack.models.sim.pops import POP_FAMILIES, POPS_FILE, ROW_LEN, pop_rows, real_pops
from firstcrack.models.sim.simulator import (
    SAMPLE_RATE,
    RoastTruth,
    SimulatorError,
    draw_timeline,
    load_truth,
    simulate_roast,
    write_roast,
)

SR = SAMPLE_RATE
SEEDS = range(300)


@cache
def timelines() -> list[RoastTruth]:
    return [draw_timeline(s, 600.0) for s in SEEDS]


def first_seed(pred, duration: float = 40.0) -> int:
    """The first seed whose short-roast timeline satisfies ``pred(params, events)``."""
    for seed in range(2000):
        t = draw_timeline(seed, duration)
        if pred(t.params, t.events):
            return seed
    raise AssertionError("no seed found")


def band_db(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float(10 * np.log10(spec[(f >= lo) & (f < hi)].mean() + 1e-30))


# --- draws -----------------------------------------------------------------------------------

def test_every_roaster_room_sound_and_chain_stage_turns_up() -> None:
    ps = [t.params for t in timelines()]
    kinds = {p["roaster_type"] for p in ps}
    assert kinds == {"small_drum", "large_drum", "fluid_bed", "popcorn_popper",
                     "heatgun_breadmachine"}
    rooms = {e["kind"] for t in timelines() for e in t.events}
    assert {"hood", "music", "spoon_tap", "tumble_click", "talk"} <= rooms
    assert {p["capture_rate_hz"] for p in ps} == {8000, 11025, 16000, 22050, 32000, 44100,
                                                  48000}
    for stage, lo, hi in (("stereo", 0.2, 0.4), ("agc", 0.25, 0.45), ("clip", 0.08, 0.25),
                          ("codec", 0.15, 0.35)):
        share = np.mean([p[f"{stage}_on"] for p in ps])
        assert lo <= share <= hi, stage
        for p in ps:  # an off stage records None for its settings, an on stage numbers
            keys = [k for k in p if k.startswith(f"{stage}_") and k != f"{stage}_on"]
            assert keys and all((p[k] is None) != p[f"{stage}_on"] for k in keys)


def test_pop_family_mixtures_vary_and_every_family_leads_somewhere() -> None:
    weights = [t.params["pop_family_weights"] for t in timelines()]
    leaders = set()
    for w in weights:
        assert set(w) == set(POP_FAMILIES)
        assert abs(sum(w.values()) - 1) < 1e-3
        leaders.add(max(w, key=w.get))
    assert leaders == set(POP_FAMILIES)
    assert np.mean([w["real"] > 0.1 for w in weights]) > 0.4  # real pops are common


def test_truth_is_json_and_records_the_draws() -> None:
    x, t = simulate_roast(first_seed(lambda p, e: p["agc_on"] and p["codec_on"]), 40.0)
    p = json.loads(json.dumps(t.to_annotation("r.wav")))["params"]
    assert p["sim_version"] == 2
    assert sum(p["pop_family_counts"].values()) == len(t.pop_times_s) == len(p["pop_snr_db"])
    assert len(p["event_levels_db"]) == len(t.events)
    assert p["agc_gain_range_db"] is not None and p["codec_frame"] in (256, 512, 1024)


# --- sounds ----------------------------------------------------------------------------------

def test_real_pops_are_vendored_small_and_short() -> None:
    assert POPS_FILE.is_relative_to(Path(__file__).resolve().parents[1] / "models")
    assert POPS_FILE.stat().st_size < 1024 * 1024
    assert (POPS_FILE.parent / "README.md").is_file() and (POPS_FILE.parent / "LICENSE").is_file()
    pops = real_pops()
    assert len(pops) >= 100
    for p in pops:
        assert 0.020 * SR <= p.size <= 0.064 * SR
        assert 0.8 <= np.abs(p).max() <= 0.95
        head = int(0.003 * SR)  # the pre-roll is quiet, the pop comes after it
        assert np.abs(p[:head]).max() < 0.5 * np.abs(p).max()


@pytest.mark.parametrize("family", POP_FAMILIES)
def test_each_pop_family_makes_short_clean_transients(family: str) -> None:
    rng = np.random.default_rng(1)
    ir = np.zeros(512)
    ir[0] = 1.0
    weights = {f: float(f == family) for f in POP_FAMILIES}
    rows, fam = pop_rows(rng, weights, 40, SR, 900.0, (0.5, 3.0), ir)
    assert rows.shape == (40, ROW_LEN) and np.all(fam == POP_FAMILIES.index(family))
    assert np.all(np.isfinite(rows))
    assert np.allclose(np.abs(rows).max(axis=1), 1.0, atol=1e-4)
    energy = np.cumsum(rows.astype(np.float64) ** 2, axis=1)
    assert np.all(energy[:, int(0.07 * SR)] > 0.95 * energy[:, -1])  # over within 70 ms


def test_spoon_taps_are_bright_ringing_and_short() -> None:
    rng = np.random.default_rng(3)
    x = sim_room.spoon_taps(rng, 0.6, SR)
    assert x.size <= int(0.9 * SR)
    assert band_db(x, 1500, 8000) > band_db(x, 50, 1000) + 10
    env = np.abs(x).reshape(-1, SR // 100)[: x.size // (SR // 100)].max(axis=1)
    assert np.sum((env[1:] > 0.4) & (env[:-1] <= 0.4)) >= 1


def test_tumble_clicks_come_at_a_steady_rate() -> None:
    x = sim_room.tumble_clicks(np.random.default_rng(4), 10.0, 4.0, 0.02, SR)
    env = np.abs(x).reshape(-1, SR // 200).max(axis=1)  # 5 ms frames
    onsets = np.flatnonzero((env[1:] > 0.2) & (env[:-1] <= 0.2)) / 200.0
    gaps = np.diff(onsets)
    assert 20 <= onsets.size <= 41
    assert np.median(gaps) == pytest.approx(0.25, abs=0.03)


def test_music_and_hood_are_steady_and_of_unit_rms() -> None:
    m = sim_room.music(np.random.default_rng(5), 8.0, SR)
    mic = {"mic_highpass_hz": 50.0, "mic_lowpass_hz": 7000.0, "mic_presence_db": 0.0,
           "mic_presence_hz": 3000.0}
    h = sim_room.hood(np.random.default_rng(6), 70.0, SR, mic)
    for x in (m, h):
        assert np.all(np.isfinite(x))
        assert 0.7 < np.sqrt(np.mean(x**2)) < 1.3


# --- recording chain -------------------------------------------------------------------------

def test_chain_stages_do_what_they_say() -> None:
    rng = np.random.default_rng(7)
    x = (0.1 * rng.standard_normal(4 * SR)).astype(np.float32)
    low = sim_chain.band_limit(x, 8000, SR)
    assert band_db(low, 4500, 7900) < band_db(low, 300, 3000) - 40
    assert sim_chain.band_limit(x, 44100, SR) is x
    coded = sim_chain.codec(x, 512, 4000.0, 8, SR)
    assert coded.shape == x.shape
    assert band_db(coded, 4300, 7900) < band_db(coded, 300, 3000) - 30
    assert abs(band_db(coded, 300, 3000) - band_db(x, 300, 3000)) < 2
    fine = sim_chain.codec(x, 512, 8000.0, 10_000, SR)
    assert np.max(np.abs(fine - x)[1024:-1024]) < 1e-3  # near-lossless settings reconstruct
    comb = sim_chain.stereo_downmix(x, 0.5, 1.0, SR)  # first notch at 1 kHz
    assert band_db(comb, 900, 1100) < band_db(comb, 1900, 2100) - 10
    hot, frac = sim_chain.clip(x * 20, soft=False)
    assert np.abs(hot).max() == 1.0 and 0 < frac < 1
    ride = np.concatenate([x[:2 * SR], 0.05 * x[2 * SR:]])  # a 26 dB drop
    out, span = sim_chain.agc(ride, -20.0, 0.5, 30.0, 1.0, SR)
    drop = 20 * np.log10(np.std(out[:SR]) / np.std(out[-SR:]))
    assert drop < 10 and span > 15


def test_a_roast_captured_at_8_khz_has_nothing_above_4_khz() -> None:
    seed = first_seed(lambda p, e: p["capture_rate_hz"] == 8000 and not p["codec_on"])
    x, t = simulate_roast(seed, 40.0)
    assert t.params["capture_rate_hz"] == 8000
    assert band_db(x, 4500, 7500) < band_db(x, 200, 3000) - 35


def test_clipped_roasts_reach_full_scale() -> None:
    seed = first_seed(lambda p, e: p["clip_on"] and not p["clip_soft"] and not p["codec_on"]
                      and p["capture_rate_hz"] >= SR)
    x, t = simulate_roast(seed, 40.0)
    assert np.abs(x).max() == 1.0 and t.params["clip_fraction"] > 0


def test_heavily_randomised_roasts_are_deterministic() -> None:
    seed = first_seed(lambda p, e: p["agc_on"] and p["codec_on"] and p["stereo_on"]
                      and any(ev["kind"] in ("hood", "music") for ev in e))
    a, ta = simulate_roast(seed, 40.0)
    b, tb = simulate_roast(seed, 40.0)
    assert np.array_equal(a, b) and ta == tb
    assert np.abs(a).max() <= 1.0 and a.dtype == np.float32


# --- files -----------------------------------------------------------------------------------

def test_write_roast_writes_44k1_stereo_that_the_agent_reads_back(tmp_path) -> None:
    wav, js = write_roast(tmp_path / "s.wav", 12, 30.0, sample_rate=44100, channels=2)
    info = sf.info(wav)
    assert info.samplerate == 44100 and info.channels == 2 and info.subtype == "PCM_16"
    stereo, _ = sf.read(wav, dtype="float32")
    assert not np.allclose(stereo[:, 0], stereo[:, 1])  # the channels really differ
    ann = json.loads(js.read_text())
    assert ann["file_sample_rate"] == 44100 and ann["file_channels"] == 2
    x, truth = simulate_roast(12, 30.0)
    assert load_truth(js) == truth
    back = np.concatenate(list(FileSource(wav, speed=0)))
    m = min(back.size, x.size)
    assert abs(back.size - x.size) <= 16
    core = slice(SR, m - SR)
    assert np.corrcoef(back[core], x[core])[0, 1] > 0.99


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"sample_rate": 7000}, "sample_rate"),
    ({"sample_rate": 44100.0}, "sample_rate"),
    ({"channels": 3}, "channels"),
])
def test_write_roast_rejects_bad_file_formats(tmp_path, kwargs: dict, match: str) -> None:
    with pytest.raises(SimulatorError, match=match):
        write_roast(tmp_path / "x.wav", 1, 30.0, **kwargs)
