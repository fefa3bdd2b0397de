"""`firstcrack evaluate-clips`: how a model does on real short crack and background clips.

    firstcrack evaluate-clips --model demo --cracks DIR --background DIR \\
        [--popcorn FILE_OR_DIR ...] [--threshold 0.6] [--positions 5] [--seed 0] [--json OUT]

Point `--cracks` at any folder of short clips (WAV/FLAC/OGG, any rate or channel count:
they are downmixed and resampled to 16 kHz mono) that each hold a few first-crack pops, and
`--background` at clips of the same roaster without cracks, each at least one window (10 s)
long. Crack clips must be shorter than the window. `--popcorn` takes files or folders.
The README's "Detection quality" figures came from the bowerhaus FirstCrack recordings
(GPL-3.0, kept outside this repository, evaluation only): `--cracks DIR/cracks --background
DIR/background --popcorn POPCORN/Popcorn200v1.wav POPCORN/Popcorn200v2.wav
POPCORN/Popcorn200v3.wav` (popcorn recordings never used for training).

A crack clip is shorter than the 10 s window the model scores, so it is scored two ways:
- spliced: the clip replaces a stretch of a real 10 s background segment, with short
  raised-cosine cross-fades (`--fade-ms`), so the window keeps the roaster's own level.
  Each clip goes in at `--positions` offsets, one drawn (with `--seed`) in each equal slice
  of the free span, so position sensitivity shows. Negatives: the background clips cut
  into 10 s windows at a 1 s hop. Control ("null splice"): the same splices with a stretch
  of background (drawn clip and place) in place of the crack; its AUC against the
  background should be near 0.5, else the splice itself moves p.
- padded: the clip alone at the same offsets, silence elsewhere (same fades). Negatives:
  background snippets of the crack clips' median length padded the same way, so both
  classes carry the same padding artefact.
Background false positives, popcorn (a pop detector should fire on it: its own row, not a
false positive) and stability (|delta p| between windows 1 s apart, over the popcorn, over
the background, and over windows sliding past a crack clip spliced into the background clips
laid end to end) come with it. All figures go to `--json`; a short table goes to the terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE, UserError
from firstcrack.models.datasets.records import AudioError, load_audio
from firstcrack.models.evaluation.clip_audio import concat, slide, splice, stratified_offsets
from firstcrack.models.evaluation.window_metrics import finite_json, roc_auc

log = logging.getLogger(__name__)

WINDOW_S = 10.0
"""Seconds per scored window (the model's input length)."""
HOP_S = 1.0
"""Seconds between consecutive windows over background, popcorn and the crack sweep."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")

Clip = tuple[str, np.ndarray]
"""(file name, float32 mono 16 kHz samples)."""


class ClipEvalError(UserError, ValueError):
    """A clip folder or option that cannot be evaluated (empty, unreadable, wrong length)."""


def load_clips(path: str | Path, role: str) -> list[Clip]:
    """Every audio file in a folder (or one file), sorted by name; raises ClipEvalError."""
    p = Path(path)
    if p.is_file():
        files = [p]
    elif p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in AUDIO_SUFFIXES)
    else:
        raise ClipEvalError(f"{role} folder {p} does not exist")
    if not files:
        raise ClipEvalError(f"{role} folder {p} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    clips = []
    for f in files:
        try:
            clips.append((f.name, load_audio(f)))
        except AudioError as exc:
            raise ClipEvalError(f"{role} clip {f}: {exc}") from exc
    return clips


def window_stability(probs: Sequence[float]) -> dict[str, Any]:
    """|delta p| between consecutive windows of one sequence (e.g. a simulated roast at 1 s).

    Small deltas mean the score does not flicker as the window slides; `None` where the
    sequence has fewer than two windows (JSON has no NaN).
    """
    d = np.abs(np.diff(np.asarray(probs, dtype=np.float64)))
    return _delta_stats(d)


def _delta_stats(d: np.ndarray) -> dict[str, Any]:
    if d.size == 0:
        return {"n_steps": 0, "median_abs_delta": None, "p90_abs_delta": None,
                "max_abs_delta": None}
    return {"n_steps": int(d.size), "median_abs_delta": float(np.median(d)),
            "p90_abs_delta": float(np.percentile(d, 90)), "max_abs_delta": float(d.max())}


def _pooled_stability(sequences: Iterable[np.ndarray]) -> dict[str, Any]:
    """Stability over several sequences, never differencing across a sequence boundary."""
    parts = [np.abs(np.diff(np.asarray(s, np.float64))) for s in sequences]
    return _delta_stats(np.concatenate(parts) if parts else np.zeros(0))


class SlidingMax:
    """A short-window model seen through 10 s windows: the max p over its own windows.

    A model whose window is shorter than `WINDOW_S` (the pretrained ear: 2 s) scores each
    10 s window as the highest p of its windows inside it, every `hop_s`: "did the model
    fire anywhere in these 10 s". Crack clips, background and popcorn are then all scored
    on the same 10 s footing as a 10 s model, and a background 10 s window counts as a false
    positive when the model fires anywhere inside it (stricter than one short window).
    """

    def __init__(self, scorer: Any, window: int, hop_s: float = 0.5) -> None:
        self.scorer, self.window = scorer, window
        self.hop = int(round(hop_s * SAMPLE_RATE))
        self.name = getattr(scorer, "name", "model")

    def predict(self, windows: np.ndarray, streams: Any = None) -> np.ndarray:
        batch = np.asarray(windows, np.float32)
        starts = list(range(0, batch.shape[1] - self.window + 1, self.hop))
        parts = np.stack([batch[:, s:s + self.window] for s in starts], axis=1)
        p = np.asarray(self.scorer.predict(parts.reshape(-1, self.window)), np.float64)
        return p.reshape(len(batch), len(starts)).max(axis=1)


def _cropped(scorer: Any, cracks: Sequence[Clip], background: Sequence[Clip], win: int,
             threshold: float) -> dict[str, Any]:
    """A short-window model on its own windows: each crack clip's central crop against
    background windows at a 1 s hop (one window each, no max)."""
    crops = [a[(len(a) - win) // 2:(len(a) - win) // 2 + win] for _, a in cracks]
    pos = _score(scorer, crops)
    neg = np.concatenate([_score(scorer, slide(a, win, int(HOP_S * SAMPLE_RATE)))
                          for _, a in background])
    return {"how": f"central {win / SAMPLE_RATE:g} s of each crack clip vs background windows "
                   "of the same length at a 1 s hop",
            "auc": roc_auc(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg]),
            "positive_rate_at_threshold": float(np.mean(pos >= threshold)),
            "negative_rate_at_threshold": float(np.mean(neg >= threshold)),
            "n_positive_windows": int(pos.size), "n_negative_windows": int(neg.size)}


def _score(scorer: Any, windows: Iterable[np.ndarray], batch: int = 16) -> np.ndarray:
    """p for each window, building at most `batch` windows at a time (bounded memory)."""
    out, buf = [], []
    for w in windows:
        buf.append(w)
        if len(buf) == batch:
            out.append(np.asarray(scorer.predict(np.stack(buf)), np.float64).ravel())
            buf = []
    if buf:
        out.append(np.asarray(scorer.predict(np.stack(buf)), np.float64).ravel())
    return np.concatenate(out) if out else np.zeros(0)


def _summary(p: np.ndarray, threshold: float) -> dict[str, Any]:
    if p.size == 0:
        return {"n_windows": 0}
    return {"n_windows": int(p.size), "rate_at_threshold": float(np.mean(p >= threshold)),
            "median_p": float(np.median(p)), "min_p": float(p.min()), "max_p": float(p.max())}


def _dbfs(clips: Sequence[Clip]) -> float:
    rms = [np.sqrt(np.mean(np.square(a, dtype=np.float64))) for _, a in clips]
    return float(20 * np.log10(np.median(rms) + 1e-12))


def _variant(names: list[str], pos: np.ndarray, neg: np.ndarray, starts_s: np.ndarray,
             threshold: float, how: str) -> dict[str, Any]:
    """AUC and per-clip spread; `pos` is [clips, positions], `starts_s` the clip offsets."""
    clip_mean = pos.mean(axis=1)
    worst = int(np.argmin(clip_mean))
    flat = pos.ravel()
    return {
        "how": how,
        "auc": roc_auc(np.r_[np.ones(flat.size), np.zeros(neg.size)], np.r_[flat, neg]),
        "n_positive_windows": int(flat.size), "n_negative_windows": int(neg.size),
        "positive_rate_at_threshold": float(np.mean(flat >= threshold)),
        "negative_rate_at_threshold": float(np.mean(neg >= threshold)) if neg.size else None,
        "clip_mean_p": {"median": float(np.median(clip_mean)), "min": float(clip_mean[worst]),
                        "worst_clip": names[worst]},
        "by_position": [{"slot": j, "mean_start_s": float(starts_s[:, j].mean()),
                         "mean_p": float(pos[:, j].mean()),
                         "rate_at_threshold": float(np.mean(pos[:, j] >= threshold))}
                        for j in range(pos.shape[1])],
        "per_clip_mean_p": {n: float(m) for n, m in zip(names, clip_mean, strict=True)},
    }


def _check(cracks: Sequence[Clip], background: Sequence[Clip], popcorn: Sequence[Clip],
           win: int) -> None:
    if not cracks or not background:
        raise ClipEvalError("need at least one crack clip and one background clip")
    for role, clips in (("crack", cracks), ("background", background), ("popcorn", popcorn)):
        for name, a in clips:
            short = role == "crack"
            if (len(a) >= win) if short else (len(a) < win):
                raise ClipEvalError(
                    f"{role} clip {name} is {len(a) / SAMPLE_RATE:.2f} s; {role} clips must be "
                    f"{'shorter than' if short else 'at least'} the {WINDOW_S:g} s window")


def evaluate_clips(scorer: Any, cracks: Sequence[Clip], background: Sequence[Clip],
                   popcorn: Sequence[Clip] = (), threshold: float = 0.6, seed: int = 0,
                   positions: int = 5, fade_s: float = 0.02) -> dict[str, Any]:
    """All clip figures for `scorer` (anything with `.predict([n, samples]) -> [n]`)."""
    win, hop = int(WINDOW_S * SAMPLE_RATE), int(HOP_S * SAMPLE_RATE)
    fade = int(round(fade_s * SAMPLE_RATE))
    if positions < 1 or not 0.0 <= threshold <= 1.0 or fade_s < 0:
        raise ClipEvalError("--positions must be >= 1, --threshold within 0..1, --fade-ms >= 0")
    _check(cracks, background, popcorn, win)
    rng = np.random.default_rng(seed)
    offs = np.stack([stratified_offsets(rng, positions, win - len(a)) for _, a in cracks])
    slots = [(cracks[i // positions][1], int(o)) for i, o in enumerate(offs.flat)]
    beds, nulls = [], []  # a 10 s background bed per slot, and a clip-long background stretch
    for clip, _ in slots:
        b = background[int(rng.integers(len(background)))][1]
        s = int(rng.integers(len(b) - win + 1))
        beds.append(b[s:s + win])
        b = background[int(rng.integers(len(background)))][1]
        s = int(rng.integers(len(b) - len(clip) + 1))
        nulls.append(b[s:s + len(clip)])
    zeros = np.zeros(win, np.float32)
    snip = int(np.median([len(a) for _, a in cracks]))
    pieces = [a[s:s + snip] for _, a in background for s in range(0, len(a) - snip + 1, snip)]
    neg_offs = stratified_offsets(rng, len(pieces), win - snip)
    log.info("scoring %d crack slots three ways, background, popcorn, sweep", len(slots))
    pos_sp = _score(scorer, (splice(bed, c, o, fade)
                             for bed, (c, o) in zip(beds, slots, strict=True)))
    null_sp = _score(scorer, (splice(bed, n, o, fade)
                              for bed, n, (_, o) in zip(beds, nulls, slots, strict=True)))
    pos_pad = _score(scorer, (splice(zeros, c, o, fade) for c, o in slots))
    neg_pad = _score(scorer, (splice(zeros, p, int(o), fade)
                              for p, o in zip(pieces, neg_offs, strict=True)))
    bg = {n: _score(scorer, slide(a, win, hop)) for n, a in background}
    neg_sp = np.concatenate(list(bg.values()))
    pop = {n: _score(scorer, slide(a, win, hop)) for n, a in popcorn}
    names, starts_s = [n for n, _ in cracks], offs / SAMPLE_RATE
    spliced = _variant(names, pos_sp.reshape(offs.shape), neg_sp, starts_s, threshold,
                       "crack clip spliced into a real 10 s background segment with cross-fades;"
                       " negatives: background windows at a 1 s hop")
    spliced["null_splice"] = {  # the same splices with background in place of the crack
        "auc_vs_background": roc_auc(np.r_[np.ones(null_sp.size), np.zeros(neg_sp.size)],
                                     np.r_[null_sp, neg_sp]), **_summary(null_sp, threshold)}
    return {
        "threshold": threshold, "seed": seed, "window_s": WINDOW_S, "hop_s": HOP_S,
        "positions": positions, "fade_ms": fade_s * 1000,
        "clips": {"cracks": len(cracks), "background": len(background), "popcorn": len(popcorn),
                  "crack_clip_s": [min(len(a) for _, a in cracks) / SAMPLE_RATE,
                                   max(len(a) for _, a in cracks) / SAMPLE_RATE],
                  "median_rms_dbfs": {"cracks": _dbfs(cracks), "background": _dbfs(background)}},
        "spliced": spliced,
        "padded": _variant(names, pos_pad.reshape(offs.shape), neg_pad, starts_s, threshold,
                           "crack clip alone, zero-padded to 10 s at the same offsets; "
                           "negatives: background snippets of the same length padded alike"),
        "background": {**_summary(neg_sp, threshold),
                       "per_file": {n: _summary(p, threshold) for n, p in bg.items()}},
        "popcorn": {**_summary(np.concatenate(list(pop.values())) if pop else np.zeros(0),
                               threshold),
                    "per_file": {n: _summary(p, threshold) for n, p in pop.items()}},
        "stability": {"popcorn": _pooled_stability(pop.values()),
                      "background": _pooled_stability(bg.values()),
                      "crack_sweep": _crack_sweep(scorer, cracks, background, rng, win, hop, fade)},
    }


def _crack_sweep(scorer: Any, cracks: Sequence[Clip], background: Sequence[Clip],
                 rng: np.random.Generator, win: int, hop: int, fade: int) -> dict[str, Any]:
    """Stability of windows sliding 1 s at a time from before a crack clip to past it.

    The background clips are laid end to end (cross-faded) to give room for the sweep;
    each crack clip gets its own sequence, spliced in at a drawn place in that bed.
    """
    bed = concat([a for _, a in background], fade)
    seqs, peaks = [], []
    for _, clip in cracks:
        lo, hi = win, len(bed) - win - len(clip)
        off = int(rng.integers(lo, hi + 1)) if hi >= lo else (len(bed) - len(clip)) // 2
        audio = splice(bed, clip, off, fade)
        starts = range(max(0, off - win), min(off + len(clip), len(bed) - win) + 1, hop)
        p = _score(scorer, (audio[s:s + win] for s in starts))
        seqs.append(p)
        peaks.append(float(p.max()) if p.size else float("nan"))
    return {**_pooled_stability(seqs), "sequences": len(seqs), "bed_s": len(bed) / SAMPLE_RATE,
            "median_peak_p": float(np.nanmedian(peaks))}


def format_table(r: dict[str, Any]) -> str:
    """A few lines for the terminal; the JSON holds everything."""
    def f(x: float | None) -> str:
        return "  n/a" if x is None else f"{x:5.3f}"

    def rate_row(label: str, s: dict[str, Any], extreme: str) -> str:
        if not s.get("n_windows"):
            return f"{label:<30}no windows"
        return (f"{label:<30}n={s['n_windows']:<4} p>=thr {f(s['rate_at_threshold'])}  "
                f"median {f(s['median_p'])}  {extreme} {f(s[extreme + '_p'])}")

    lines = [f"real clips, model {r.get('model')}, threshold {r['threshold']:g}, seed {r['seed']}",
             f"{'crack windows':<30}{'AUC':>5}  pos>=thr  clip mean p: median / min (worst)"]
    for key, label in (("spliced", "spliced into background"), ("padded", "zero-padded")):
        v, c = r[key], r[key]["clip_mean_p"]
        lines.append(f"{label:<30}{f(v['auc'])}  {f(v['positive_rate_at_threshold'])}     "
                     f"{f(c['median'])} / {f(c['min'])} ({c['worst_clip']})")
    null = r["spliced"]["null_splice"]
    lines.append(f"{'null splice (bg into bg)':<30}{f(null['auc_vs_background'])}  "
                 f"{f(null['rate_at_threshold'])}     (control: should be ~0.5 and ~bg rate)")
    if "cropped" in r:
        c = r["cropped"]
        lines.append(f"{'own windows (central crop)':<30}{f(c['auc'])}  "
                     f"{f(c['positive_rate_at_threshold'])}     background p>=thr "
                     f"{f(c['negative_rate_at_threshold'])}")
    lines.append(rate_row("background (false positives)", r["background"], "max"))
    for name, s in r["popcorn"]["per_file"].items():
        lines.append(rate_row(f"popcorn {name}", s, "min"))
    for key, s in r["stability"].items():
        lines.append(f"{'|dp| at 1 s, ' + key:<30}median {f(s['median_abs_delta'])}  "
                     f"p90 {f(s['p90_abs_delta'])}  (n={s['n_steps']})")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack evaluate-clips` options; `run_clip_eval(args)` consumes them."""
    parser.add_argument("--model", required=True, help="hub id, local dir, .onnx, or `demo`")
    parser.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")
    parser.add_argument("--threads", type=int, help="inference threads")
    parser.add_argument("--cracks", type=Path, required=True, help="folder of short crack clips")
    parser.add_argument("--background", type=Path, required=True,
                        help="folder of background clips (>= 10 s each, same roaster)")
    parser.add_argument("--popcorn", type=Path, nargs="+", action="extend", default=[],
                        help="popcorn recordings: files or folders (>= 10 s each)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="positive at p >= this (default: the model's detection profile)")
    parser.add_argument("--positions", type=int, default=5, help="offsets per crack clip")
    parser.add_argument("--fade-ms", type=float, default=20.0, help="splice cross-fade, ms")
    parser.add_argument("--seed", type=int, default=0, help="draws offsets and background beds")
    parser.add_argument("--json", type=Path, dest="json_out", help="write all figures here")


def run_clip_eval(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI handler body: load the clips and the model, evaluate, write the JSON."""
    from firstcrack.models.inference.classifier import load_classifier

    t0 = time.monotonic()
    cracks, background = load_clips(args.cracks, "crack"), load_clips(args.background, "background")
    popcorn = [c for p in args.popcorn for c in load_clips(p, "popcorn")]
    _check(cracks, background, popcorn, int(WINDOW_S * SAMPLE_RATE))  # before a slow model load
    model = load_classifier(args.model, backend=args.backend, threads=args.threads)
    win = int(getattr(model, "window_samples", WINDOW_S * SAMPLE_RATE))
    short = win < min(len(a) for _, a in cracks)
    scorer = SlidingMax(model, win) if win < WINDOW_S * SAMPLE_RATE else model
    threshold = args.threshold if args.threshold is not None else model.profile.threshold
    result = evaluate_clips(scorer, cracks, background, popcorn, threshold=threshold,
                            seed=args.seed, positions=args.positions, fade_s=args.fade_ms / 1000)
    if scorer is not model:
        result["model_window_s"] = win / SAMPLE_RATE
        result["scored_as"] = SlidingMax.__doc__.split("\n")[0] if SlidingMax.__doc__ else ""
    if short:
        result["cropped"] = _cropped(model, cracks, background, win, threshold)
    result = {"model": args.model, "backend": getattr(model, "backend", None), **result,
              "folders": {"cracks": str(args.cracks), "background": str(args.background),
                          "popcorn": [str(p) for p in args.popcorn]},
              "elapsed_s": round(time.monotonic() - t0, 1)}
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(finite_json(result), indent=2) + "\n")
    return result


def main(args: argparse.Namespace) -> int:
    """Evaluate on the clips and print the table."""
    print(format_table(run_clip_eval(args)))
    return 0
