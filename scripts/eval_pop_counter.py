"""Measure the pop counter (agent/core/transients.py) on real and simulated audio.

Usage::

    python scripts/eval_pop_counter.py [FOLDER ...] [--sim-seeds 100-119]
        [--nocrack-seeds 20000-20009]

Each FOLDER is recognised by what it holds:

- ``cracks/`` and ``background/`` (the bowerhaus-firstcrack set, evaluation only): every
  crack clip is fed after 5 s of that roaster's background, and every background clip is
  fed on its own from a cold start;
- ``*.pops.json`` label files (e.g. ``models/data/popcorn``): each recording is fed whole
  and its onsets are compared with the hand-labelled pop times.

``--sim-seeds`` adds simulated crack roasts (counts against the simulator's true pop
times), ``--nocrack-seeds`` simulated roasts without a crack; together they give the table
the adaptive cadence's ``pops_per_min`` trigger is chosen from.

Audio goes to the counter in 0.1 s blocks (the live default, ``block_s``); the result does
not depend on the block size.

Warm-up protocol for the crack clips (each clip is ~2.1 s, shorter than a fair warm-up):
the background clip closest in spectral shape (mean absolute difference of the median
levels in five bands, after removing the mean) is scaled by one gain so its mean band level
matches the clip's, a 5 s stretch of it is put before the clip with a 20 ms cross-fade, and
only onsets from the join onwards count for the clip. The stretches avoid the crack-like
transients that the background clips hold (``BOWERHAUS_BG_TRANSIENTS_S``, seen by eye in
spectrograms); onsets inside the 5 s prefix are reported separately.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firstcrack.agent.core.transients import TransientConfig, TransientCounter  # noqa: E402

SR = 16000
BLOCK = 1600  # samples: the live loop's default 0.1 s block
PREFIX_S = 5.0
# Broadband crack-like transients in the bowerhaus background clips, seconds, seen by eye in
# spectrograms (vertical lines over 2-7.5 kHz like those of the crack clips). The
# README warns that a stray click is possible; these are more than that.
BOWERHAUS_BG_TRANSIENTS_S: dict[str, list[float]] = {
    "sample-2.wav": [2.33, 8.13, 9.92, 12.24],
    "sample-3.wav": [11.59, 13.89],
}
# The 5 s of each background clip used as a warm-up prefix (clear of the transients above).
BOWERHAUS_BG_PREFIX_S: dict[str, float] = {
    "sample-1.wav": 0.0,
    "sample-2.wav": 2.6,
    "sample-3.wav": 5.5,
    "sample-4.wav": 0.0,
}
_PROFILE_BANDS_HZ = ((100, 400), (400, 1700), (1700, 3000), (3000, 5000), (5000, 7500))


def load(path: str) -> np.ndarray:
    """Mono float32 audio at 16 kHz (WAV or FLAC)."""
    import soundfile as sf

    x, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != SR:
        raise SystemExit(f"{path}: sample rate {sr}, expected {SR}")
    return x.mean(axis=1)


def count(audio: np.ndarray, config: TransientConfig | None = None) -> TransientCounter:
    """A fresh counter that has heard `audio` in live-sized blocks."""
    counter = TransientCounter(SR, config)
    for start in range(0, len(audio), BLOCK):
        counter.push(audio[start : start + BLOCK])
    return counter


def bin_correlation(got: np.ndarray, true: np.ndarray, duration_s: float, bin_s: float = 10.0
                    ) -> tuple[float, np.ndarray, np.ndarray]:
    """Pearson r of per-`bin_s` counts (NaN when either is constant), and both histograms."""
    edges = np.arange(0.0, duration_s + bin_s, bin_s)
    g, _ = np.histogram(got, edges)
    t, _ = np.histogram(true, edges)
    r = float(np.corrcoef(g, t)[0, 1]) if g.std() > 0 and t.std() > 0 else float("nan")
    return r, g, t


def match(got: np.ndarray, true: np.ndarray, tol_s: float = 0.03) -> tuple[int, int]:
    """(onsets within `tol_s` of a true pop, true pops with an onset within `tol_s`)."""
    if not len(got) or not len(true):
        return 0, 0
    d = np.abs(got[:, None] - true[None, :]) <= tol_s
    return int(d.any(axis=1).sum()), int(d.any(axis=0).sum())


def merge(times: np.ndarray, gap_s: float) -> np.ndarray:
    """Times with any one closer than `gap_s` after the last kept one dropped."""
    out: list[float] = []
    for t in np.sort(times):
        if not out or t - out[-1] >= gap_s:
            out.append(float(t))
    return np.asarray(out)


def _number(path: str) -> int:
    """The number in a file name (sample-12.wav -> 12), for a natural sort."""
    digits = "".join(c for c in os.path.basename(path) if c.isdigit())
    return int(digits or 0)


def _shape_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute dB difference of two band profiles after removing their mean offset."""
    d = a - b
    return float(np.mean(np.abs(d - np.mean(d))))


def _band_profile(x: np.ndarray) -> np.ndarray:
    from scipy import signal

    out = []
    for lo, hi in _PROFILE_BANDS_HZ:
        sos = signal.butter(2, [lo, hi], btype="bandpass", fs=SR, output="sos")
        out.append(10 * np.log10(np.median(signal.sosfilt(sos, x.astype(np.float64)) ** 2)))
    return np.asarray(out)


def bowerhaus(folder: str) -> None:
    """Crack clips after a background prefix; background clips from a cold start."""
    bg_paths = sorted(glob.glob(os.path.join(folder, "background", "*.wav")))
    cr_paths = sorted(glob.glob(os.path.join(folder, "cracks", "*.wav")), key=_number)
    bgs = {os.path.basename(p): load(p) for p in bg_paths}
    profiles = {name: _band_profile(x) for name, x in bgs.items()}
    print(f"\n== bowerhaus-firstcrack: {folder}")
    print(f"-- {len(cr_paths)} crack clips, each after {PREFIX_S:g} s of matched background")
    hits, prefix_onsets, used = [], 0, {}
    fade = int(0.02 * SR)
    for path in cr_paths:
        clip = load(path)
        p = _band_profile(clip)
        name = min(profiles, key=lambda k: _shape_distance(p, profiles[k]))
        gain = 10 ** (np.mean(p - profiles[name]) / 20)
        a = int(BOWERHAUS_BG_PREFIX_S.get(name, 0.0) * SR)
        pre = bgs[name][a : a + int(PREFIX_S * SR)] * gain
        w = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        audio = np.concatenate([pre[:-fade], pre[-fade:] * (1 - w) + clip[:fade] * w, clip[fade:]])
        join_s = (len(pre) - fade) / SR
        onsets = np.asarray(count(audio).onset_times())
        n = int(np.sum(onsets >= join_s))
        hits.append(n)
        prefix_onsets += int(np.sum(onsets < join_s))
        used[name] = used.get(name, 0) + 1
        print(f"  {os.path.basename(path):14s} prefix {name} x{gain:.2f}: {n} onsets "
              f"at {[round(float(t) - join_s, 2) for t in onsets[onsets >= join_s]]} s")
    h = np.asarray(hits)
    print(f"clips with >= 1 onset: {int(np.sum(h >= 1))}/{len(h)} = {np.mean(h >= 1):.0%}; "
          f"onsets per clip: mean {h.mean():.2f}, median {np.median(h):g}, max {h.max()}")
    print(f"onsets inside the background prefixes: {prefix_onsets} "
          f"(prefixes used: {dict(sorted(used.items()))})")
    print(f"-- {len(bgs)} background clips, each from a cold start (warm-up included)")
    total_n, total_s, unexplained = 0, 0.0, 0
    for name, x in bgs.items():
        onsets = count(x).onset_times()
        seen = BOWERHAUS_BG_TRANSIENTS_S.get(name, [])
        other = [t for t in onsets if not any(abs(t - s) <= 0.06 for s in seen)]
        dur = len(x) / SR
        total_n, total_s = total_n + len(onsets), total_s + dur
        unexplained += len(other)
        print(f"  {name}: {len(onsets)} onsets in {dur:.1f} s = {len(onsets) * 60 / dur:.1f}/min "
              f"at {[round(t, 2) for t in onsets]}; visible crack-like transients {seen}")
    print(f"all background: {total_n} onsets in {total_s:.1f} s = "
          f"{total_n * 60 / total_s:.2f}/min; not at a visible transient: {unexplained} = "
          f"{unexplained * 60 / total_s:.2f}/min")


def labelled(folder: str) -> None:
    """Recordings with hand-labelled pop times (`*.pops.json` beside the audio)."""
    for path in sorted(glob.glob(os.path.join(folder, "*.pops.json"))):
        with open(path) as f:
            meta = json.load(f)
        audio = load(os.path.join(folder, meta["audio_file"]))
        true = np.asarray(meta["pop_times_s"])
        counter = count(audio)
        got = np.asarray(counter.onset_times())
        dur = len(audio) / SR
        r, g, t = bin_correlation(got, true, dur)
        warm = TransientConfig().warmup_s
        true_after = true[true >= warm]
        hit_got, hit_true = match(got, true_after)
        err = (len(got) - len(true)) / len(true)
        print(f"\n== {meta['audio_file']} ({folder}): {dur:.1f} s, {len(true)} hand-labelled pops")
        print(f"onsets {len(got)}, count error {err:+.1%} "
              f"(against the {len(true_after)} pops after the {warm:g} s warm-up: "
              f"{(len(got) - len(true_after)) / len(true_after):+.1%})")
        print(f"per-10 s bin Pearson r = {r:.3f}; max |bin difference| = {np.max(np.abs(g - t))}")
        print(f"within 30 ms: {hit_got / max(1, len(got)):.0%} of onsets are at a labelled pop, "
              f"{hit_true / max(1, len(true_after)):.0%} of labelled pops have an onset")
        print(f"bins (onsets/labelled): {' '.join(f'{a}/{b}' for a, b in zip(g, t, strict=True))}")


@dataclass
class _SimRoast:
    seed: int
    crack: bool
    rates: np.ndarray  # pops_per_min sampled every second of stream time
    onsets: np.ndarray
    true: np.ndarray
    onset_s: float | None
    end_s: float | None
    duration_s: float


def _simulate(seed: int, crack: bool) -> _SimRoast:
    from firstcrack.models.sim.simulator import simulate_roast

    audio, truth = simulate_roast(seed, crack=crack)
    counter = TransientCounter(SR)
    rates = []
    for start in range(0, len(audio), BLOCK):
        counter.push(audio[start : start + BLOCK])
        if (start + BLOCK) % SR == 0:
            rates.append(counter.pops_per_min())
    true = np.sort(np.asarray(list(truth.pop_times_s) + list(truth.second_crack_pop_times_s)))
    return _SimRoast(seed, crack, np.asarray(rates), np.asarray(counter.onset_times()), true,
                     truth.first_crack_onset_s, truth.first_crack_end_s, len(audio) / SR)


def simulated(crack_seeds: list[int], nocrack_seeds: list[int]) -> None:
    """Counts against the simulator's truth, and the rate table for the cadence trigger."""
    refractory = TransientConfig().refractory_ms / 1000
    crack = [_simulate(s, True) for s in crack_seeds]
    nocrack = [_simulate(s, False) for s in nocrack_seeds]
    if crack:
        print(f"\n== simulated crack roasts, seeds {crack_seeds[0]}-{crack_seeds[-1]} "
              "(truth: first + second crack pops)")
        print("seed  true  merged  onsets  err(merged)   r     r(merged)  before-onset/min")
        rs, rms, errs = [], [], []
        for s in crack:
            merged = merge(s.true, refractory)
            r = bin_correlation(s.onsets, s.true, s.duration_s)[0]
            rm = bin_correlation(s.onsets, merged, s.duration_s)[0]
            err = (len(s.onsets) - len(merged)) / len(merged) if len(merged) else float("nan")
            before = np.sum(s.onsets < s.onset_s) * 60 / s.onset_s if s.onset_s else float("nan")
            rs.append(r)
            rms.append(rm)
            errs.append(err)
            print(f"{s.seed:5d} {len(s.true):5d} {len(merged):7d} {len(s.onsets):7d} "
                  f"{err:+10.0%} {r:7.3f} {rm:9.3f} {before:12.2f}")
        print(f"median r {np.nanmedian(rs):.3f} (min {np.nanmin(rs):.3f}); median r against "
              f"merged truth {np.nanmedian(rms):.3f}; median count error against merged truth "
              f"{np.nanmedian(errs):+.0%} (pops closer than {refractory * 1000:g} ms merged)")
    if nocrack or crack:
        print("\n== pops_per_min (20 s window, sampled each second) for a cadence trigger")
        quiet = np.concatenate([s.rates for s in nocrack]) if nocrack else np.zeros(0)
        before = [s.rates[: int(s.onset_s)] for s in crack if s.onset_s]
        timed = [s for s in crack if s.onset_s and s.end_s]
        inside = [s.rates[int(s.onset_s) : int(s.end_s) + 1] for s in timed]
        if len(quiet):
            print(f"no-crack roasts ({len(nocrack)}): p99 {np.percentile(quiet, 99):.1f}, "
                  f"p99.9 {np.percentile(quiet, 99.9):.1f}, max {quiet.max():.1f}")
        if before:
            b = np.concatenate(before)
            print(f"crack roasts before first crack: p99 {np.percentile(b, 99):.1f}, "
                  f"max {b.max():.1f}")
        if inside:
            i = np.concatenate(inside)
            print(f"inside first crack (onset..end): median {np.median(i):.1f}, "
                  f"p25 {np.percentile(i, 25):.1f}, p75 {np.percentile(i, 75):.1f}")
        hold = int(round(_hold_s()))
        print(f"trigger  no-crack roasts ever >=  no-crack time >=  (+{hold} s hold)  "
              "pre-crack time >=  crack roasts reaching it in first crack  "
              "median delay after onset")
        for trig in (3, 6, 9, 12, 15, 18, 24, 30, 45, 60, 90):
            ever = sum(bool(np.any(s.rates >= trig)) for s in nocrack)
            qt = float(np.mean(quiet >= trig)) if len(quiet) else float("nan")
            held = (float(np.mean(np.concatenate([_held(s.rates >= trig, hold) for s in nocrack])))
                    if nocrack else float("nan"))
            pt = float(np.mean(np.concatenate(before) >= trig)) if before else float("nan")
            delays = []
            for seg in inside:
                k = np.flatnonzero(seg >= trig)
                if len(k):
                    delays.append(float(k[0]))
            print(f"{trig:7d}  {ever:5d}/{len(nocrack):<18d} {qt:8.2%} {held:16.2%} {pt:17.2%}  "
                  f"{len(delays):10d}/{len(inside):<27d} "
                  f"{(f'{np.median(delays):.0f} s' if delays else '-'):>8s}")


def _hold_s() -> float:
    """The adaptive cadence's hold after a trigger (agent/core/cadence.py default), seconds."""
    from firstcrack.agent.core.cadence import CadenceConfig

    return CadenceConfig().hold_s


def _held(fired: np.ndarray, hold: int) -> np.ndarray:
    """Per second: a trigger fired within the last `hold` seconds (dense cadence)."""
    return np.convolve(fired.astype(float), np.ones(max(1, hold)))[: len(fired)] > 0


def _seeds(text: str | None) -> list[int]:
    if not text:
        return []
    a, _, b = text.partition("-")
    return list(range(int(a), int(b or a) + 1))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="*", help="bowerhaus-style or *.pops.json folders")
    ap.add_argument("--sim-seeds", help="simulated crack roasts, e.g. 100-119")
    ap.add_argument("--nocrack-seeds", help="simulated roasts without a crack, e.g. 20000-20009")
    args = ap.parse_args(argv)
    print(f"counter: {TransientConfig()}")
    for folder in args.folders:
        if os.path.isdir(os.path.join(folder, "cracks")):
            bowerhaus(folder)
        elif glob.glob(os.path.join(folder, "*.pops.json")):
            labelled(folder)
        else:
            raise SystemExit(f"{folder}: neither cracks/+background/ nor *.pops.json")
    if args.sim_seeds or args.nocrack_seeds:
        simulated(_seeds(args.sim_seeds), _seeds(args.nocrack_seeds))


if __name__ == "__main__":
    main()
