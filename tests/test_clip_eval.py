"""`firstcrack evaluate-clips` on generated clip folders, never real recordings from outside.

Most tests use a fake scorer whose p is the window's peak level, so the expected figures
are known exactly: clicks separate perfectly from steady noise. One test runs the CLI end
to end with the demo model on clips cut from simulated roasts.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.cli import main
from firstcrack.models.evaluation.clip_audio import concat, splice
from firstcrack.models.evaluation.clips import (
    ClipEvalError,
    evaluate_clips,
    load_clips,
    window_stability,
)
from firstcrack.models.sim.simulator import simulate_roast

SR = 16_000
CLICK_S = (0.3, 1.0, 1.8)  # click times inside each 2.1 s crack clip
CLICK_LEVEL = 0.8


class PeakScorer:
    """p = the window's peak |sample|: a click detector, no model needed."""

    name = "peak"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.abs(windows).max(axis=1).clip(0.0, 1.0)


def noise(seconds: float, seed: int, level: float = 0.01) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(
        np.float32
    )


def clicky(seconds: float, seed: int, times: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Noise with a 2 ms click of peak CLICK_LEVEL at each time (s)."""
    x = noise(seconds, seed)
    for t in times:
        i = int(t * SR)
        x[i : i + 32] = CLICK_LEVEL * np.exp(-np.arange(32) / 8.0)
    return x


def synthetic() -> tuple[list, list, list]:
    cracks = [(f"crack-{i}.wav", clicky(2.1, i, CLICK_S)) for i in range(3)]
    background = [(f"bg-{i}.wav", noise(21.0, 10 + i)) for i in range(2)]
    popcorn = [("pop.wav", clicky(15.0, 20, np.arange(0.25, 15.0, 0.5)))]
    return cracks, background, popcorn


def write_folder(folder: Path, clips: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, audio in clips:
        sf.write(folder / name, audio, SR, subtype="PCM_16")
    return folder


def test_peak_scorer_separates_clicks_from_noise_exactly() -> None:
    cracks, background, popcorn = synthetic()
    r = evaluate_clips(PeakScorer(), cracks, background, popcorn, threshold=0.6, positions=5)

    for key in ("spliced", "padded"):
        v = r[key]
        assert v["auc"] == 1.0
        assert v["n_positive_windows"] == 15
        assert v["positive_rate_at_threshold"] == 1.0
        assert v["negative_rate_at_threshold"] == 0.0
        assert v["clip_mean_p"]["min"] == pytest.approx(CLICK_LEVEL, abs=0.01)
        assert [b["slot"] for b in v["by_position"]] == [0, 1, 2, 3, 4]
    # one offset per fifth of the free span: slot starts rise across the window
    starts = [b["mean_start_s"] for b in r["spliced"]["by_position"]]
    assert starts == sorted(starts) and starts[-1] <= 10.0 - 2.1
    assert r["spliced"]["n_negative_windows"] == 2 * 12  # 21 s at a 1 s hop -> 12 windows each
    assert r["padded"]["n_negative_windows"] == 2 * 10  # 2.1 s snippets of each 21 s clip
    null = r["spliced"]["null_splice"]
    assert null["max_p"] < 0.1 and null["rate_at_threshold"] == 0.0

    bg = r["background"]
    assert bg["n_windows"] == 24 and bg["rate_at_threshold"] == 0.0 and bg["max_p"] < 0.1
    pop = r["popcorn"]
    assert pop["n_windows"] == 6 and pop["rate_at_threshold"] == 1.0
    assert pop["min_p"] == pytest.approx(CLICK_LEVEL, abs=0.01)

    stab = r["stability"]
    assert stab["popcorn"]["median_abs_delta"] == pytest.approx(0.0, abs=1e-6)
    sweep = stab["crack_sweep"]
    # 13 windows per crack clip (from ending at the clip to starting after it): 12 steps each;
    # only the step in and the step out are large, 2 of 12, so p90 catches one, median not.
    assert sweep["sequences"] == 3 and sweep["n_steps"] == 36
    assert sweep["median_abs_delta"] < 0.05 and sweep["p90_abs_delta"] > 0.7
    assert r["clips"]["crack_clip_s"] == [2.1, 2.1]


def test_same_seed_same_figures_other_seed_other_offsets() -> None:
    cracks, background, _ = synthetic()
    a = evaluate_clips(PeakScorer(), cracks, background, seed=1, positions=3)
    b = evaluate_clips(PeakScorer(), cracks, background, seed=1, positions=3)
    c = evaluate_clips(PeakScorer(), cracks, background, seed=2, positions=3)
    assert a == b
    assert a["spliced"]["by_position"] != c["spliced"]["by_position"]


def test_window_stability() -> None:
    s = window_stability([0.1, 0.2, 0.6, 0.6])
    assert s["n_steps"] == 3
    assert s["median_abs_delta"] == pytest.approx(0.1)
    assert s["p90_abs_delta"] == pytest.approx(0.34)
    assert s["max_abs_delta"] == pytest.approx(0.4)
    assert window_stability([0.5]) == {"n_steps": 0, "median_abs_delta": None,
                                       "p90_abs_delta": None, "max_abs_delta": None}


def test_splice_replaces_the_stretch_with_cross_fades() -> None:
    bed = np.full(1000, 0.5, np.float32)
    out = splice(bed, np.ones(200, np.float32), 300, fade=20)
    assert len(out) == 1000 and bed[0] == 0.5  # a copy
    assert np.all(out[:300] == 0.5) and np.all(out[500:] == 0.5)
    assert np.allclose(out[320:480], 1.0)
    ramp = out[300:320]
    assert np.all(np.diff(ramp) > 0) and 0.5 < ramp[0] < ramp[-1] < 1.0
    padded = splice(np.zeros(1000, np.float32), np.ones(200, np.float32), 0, fade=0)
    assert padded[:200].sum() == 200 and padded[200:].sum() == 0
    joined = concat([np.ones(100, np.float32), np.ones(50, np.float32)], fade=10)
    assert len(joined) == 140 and np.allclose(joined, 1.0)


def test_load_clips_downmixes_and_resamples(tmp_path: Path) -> None:
    stereo = np.stack([np.ones(44_100), -np.ones(44_100)], axis=1) * 0.25
    sf.write(tmp_path / "a.wav", stereo, 44_100)
    (tmp_path / "notes.txt").write_text("ignored")
    [(name, audio)] = load_clips(tmp_path, "crack")
    assert name == "a.wav" and audio.dtype == np.float32 and len(audio) == SR
    assert np.abs(audio).max() < 1e-3  # the two channels cancel


def test_bad_lengths_are_clip_eval_errors() -> None:
    cracks, background, popcorn = synthetic()
    with pytest.raises(ClipEvalError, match=r"crack clip long\.wav is 10\.50 s"):
        evaluate_clips(PeakScorer(), [("long.wav", noise(10.5, 0))], background)
    with pytest.raises(ClipEvalError, match=r"background clip short\.wav is 4\.00 s"):
        evaluate_clips(PeakScorer(), cracks, [("short.wav", noise(4.0, 0))])
    with pytest.raises(ClipEvalError, match="popcorn clip p.wav"):
        evaluate_clips(PeakScorer(), cracks, background, [("p.wav", noise(3.0, 0))])
    with pytest.raises(ClipEvalError, match="threshold"):
        evaluate_clips(PeakScorer(), cracks, background, threshold=1.5)


def _cli(tmp_path: Path, cracks: Path, background: Path, *extra: str) -> int:
    return main(["evaluate-clips", "--model", "demo", "--cracks", str(cracks),
                 "--background", str(background), *extra])


def test_cli_bad_input_exits_2_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cracks, background, _ = synthetic()
    good_cracks = write_folder(tmp_path / "cracks", cracks)
    good_bg = write_folder(tmp_path / "bg", background)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _cli(tmp_path, empty, good_bg) == 2
    assert f"crack folder {empty} holds no audio files" in capsys.readouterr().err

    broken = write_folder(tmp_path / "broken", cracks)
    (broken / "sample-9.wav").write_bytes(b"this is not a RIFF file")
    assert _cli(tmp_path, broken, good_bg) == 2
    assert "sample-9.wav" in capsys.readouterr().err

    long = write_folder(tmp_path / "long", [("long.wav", noise(12.0, 0))])
    assert _cli(tmp_path, long, good_bg) == 2
    err = capsys.readouterr().err
    assert "long.wav is 12.00 s" in err and "shorter than the 10 s window" in err

    assert _cli(tmp_path, good_cracks, tmp_path / "missing") == 2
    assert "does not exist" in capsys.readouterr().err


def _simulated_folders(root: Path) -> tuple[Path, Path, Path]:
    """2.1 s crack clips cut around first-crack pops; 21 s no-crack background; 12 s popcorn."""
    audio, truth = simulate_roast(4, duration_s=60.0, crack=True)
    end = truth.first_crack_end_s
    assert truth.first_crack_onset_s is not None and end is not None
    pops = [t for t in truth.pop_times_s if t + 1.6 < end]
    clips = []
    for i, t in enumerate(pops[:: max(1, len(pops) // 3)][:3]):
        start = int((t - 0.5) * SR)
        clips.append((f"crack-{i}.wav", audio[start : start + int(2.1 * SR)]))
    onset = int(truth.first_crack_onset_s * SR)
    quiet, _ = simulate_roast(5, duration_s=21.0, crack=False)
    return (write_folder(root / "cracks", clips), write_folder(root / "bg", [("bg.wav", quiet)]),
            write_folder(root / "pop", [("pop.wav", audio[onset : onset + 12 * SR])]))


def test_cli_end_to_end_with_demo_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cracks, background, popcorn = _simulated_folders(tmp_path)
    out = tmp_path / "clips.json"
    code = _cli(tmp_path, cracks, background, "--popcorn", str(popcorn), "--positions", "2",
                "--threshold", "0.5", "--seed", "3", "--json", str(out))
    assert code == 0
    table = capsys.readouterr().out
    assert "spliced into background" in table and "zero-padded" in table
    assert "popcorn pop.wav" in table
    r = json.loads(out.read_text())
    assert r["model"] == "demo" and r["threshold"] == 0.5 and r["seed"] == 3
    assert r["spliced"]["n_positive_windows"] == 6 and r["padded"]["n_positive_windows"] == 6
    assert r["background"]["n_windows"] == 12 and r["popcorn"]["n_windows"] == 3
    for key in ("spliced", "padded"):
        assert 0.0 <= r[key]["auc"] <= 1.0
        assert 0.0 <= r[key]["clip_mean_p"]["min"] <= r[key]["clip_mean_p"]["median"] <= 1.0
    assert 0.0 <= r["background"]["rate_at_threshold"] <= 1.0
    assert r["stability"]["crack_sweep"]["sequences"] == 3
    assert r["stability"]["crack_sweep"]["n_steps"] > 0
