"""`firstcrack bench`: per-window latency, features, real-time factor and CPU per roast minute.

One run measures, on this machine:

1. per-window latency (p50, p95; warm-up excluded; `repeats` timed runs, the
   variants interleaved round by round so a noisy neighbour hits all alike)
   and CPU time per window, for each backend variant (models/bench/variants.py)
   of the full-size AST (`--no-full` skips it) and of a small model (`--model`,
   default `demo`; skipped with a note when absent);
2. feature extraction per window: `ASTFeatureExtractor`, vectorised, and
   incremental at a 3 s hop (models/inference/fbank.py);
3. the real-time factor (latency / hop) at the configured hop;
4. inference CPU per roast minute over `--roasts` simulated roasts through
   the live path (models/bench/roasts.py): the *baseline profile* (torch fp32
   eager, extractor features, fixed 3 s hop) against the *agent profile*
   (fastest backend, incremental features, adaptive cadence) and the *gated* profile
   (the shipped ear in front of the AST, agent/core/gate.py); and the shipped ear's own
   CPU per roast minute as the model (`ear`);
5. per backend (torch, onnx fp32, onnx int8) of each model: load time and peak
   RSS, each in a fresh process (models/bench/variants.py `footprint`), so
   torch's import never counts against the ONNX backends;
6. the CPU that recording a roast adds (models/bench/recording.py);
7. the bench process's own peak RSS.

Every figure carries its ratio to the baseline profile measured in the same
run. Output: a readable table on stdout; `--json` prints only JSON instead,
`--json FILE` writes JSON to FILE and still prints the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import UserError

log = logging.getLogger("firstcrack.bench")

DEFAULT_CACHE = Path.home() / ".cache" / "firstcrack" / "bench"


class BenchError(UserError):
    """A bad bench option (the message names it)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="print JSON only (no FILE) or also write JSON to FILE",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per variant (5)")
    parser.add_argument(
        "--quick", action="store_true", help="2 repeats, 1 roast: a smoke test, not a measurement"
    )
    parser.add_argument("--no-full", action="store_true", help="skip the 86 M full-size AST")
    parser.add_argument(
        "--model", default="ast-demo",
        help="small AST to bench too: ast-demo, tiny or an AST model directory"
    )
    parser.add_argument(
        "--roasts",
        type=int,
        default=2,
        help="simulated roasts (N crack roasts plus N//2 no-crack roasts)",
    )
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (2)")
    parser.add_argument("--hop", type=float, default=3.0, help="configured hop_s (3)")
    parser.add_argument(
        "--actual",
        action="store_true",
        help="also push one whole roast through the full AST, agent profile, and measure "
        "its CPU directly (~2 min)",
    )
    parser.add_argument(
        "--no-roasters",
        dest="roasters",
        action="store_false",
        help="skip the two-roasters-on-one-agent vs two-agents measurement",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where built models are kept ({DEFAULT_CACHE})",
    )


def main(args: argparse.Namespace) -> int:
    try:
        report = measure(args)
    except BenchError as exc:
        print(f"firstcrack bench: {exc}", file=sys.stderr)
        return 2
    from firstcrack.models.bench.report import render_table

    text = json.dumps(report, indent=2, default=float)
    if args.json == "-":
        print(text)
    else:
        if args.json:
            Path(args.json).write_text(text + "\n")
        print(render_table(report))
    return 0


def _check(args: argparse.Namespace) -> tuple[int, int]:
    repeats = 2 if args.quick else args.repeats
    roasts = min(args.roasts, 1) if args.quick else args.roasts
    if repeats < 1:
        raise BenchError(f"--repeats must be >= 1, got {repeats}")
    if roasts < 0:
        raise BenchError(f"--roasts must be >= 0, got {roasts}")
    if args.threads < 1:
        raise BenchError(f"--threads must be >= 1, got {args.threads}")
    from firstcrack.agent.config import AgentConfig, ConfigError

    try:  # the config's own bounds for hop_s (agent/config/detector.py)
        AgentConfig().with_detector(hop_s=args.hop)
    except ConfigError as exc:
        raise BenchError(f"--hop: {exc}") from None
    return repeats, roasts


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement; returns the JSON report (see module docstring)."""
    import os

    repeats, roasts = _check(args)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from firstcrack.models.bench.variants import (
        footprint,
        full_ast_dir,
        roast_windows,
        small_model_dir,
    )

    args.cache.mkdir(parents=True, exist_ok=True)
    windows, run = roast_windows(4)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "threads": args.threads},
        "repeats": repeats,
        "hop_s": args.hop,
        "notes": [],
        "models": {},
    }
    targets: list[tuple[str, Path]] = []
    if not args.no_full:
        targets.append(("full_ast", full_ast_dir(args.cache)))
    small = small_model_dir(args.model, args.cache)
    if small is None:
        report["notes"].append(f"model '{args.model}' not found: skipped")
    else:
        targets.append((args.model, small))
    for key, model_dir in targets:
        report["models"][key] = bench_model(model_dir, windows, run, repeats, args)
        report["models"][key]["footprint"] = footprint(model_dir, args.threads)
    if roasts and report["models"]:
        from firstcrack.models.bench.report import roast_cpu

        report["roasts"] = roast_cpu(report, roasts, args.hop, small=args.model)
    if roasts:
        from firstcrack.models.bench.report import ear_cpu

        report["ear"] = ear_cpu(roasts, args.threads)
    if args.roasters and small is not None:
        from firstcrack.models.bench.multi import two_roasters

        report["two_roasters"] = two_roasters(
            small, duration_s=120.0 if args.quick else 300.0, threads=args.threads
        )
    if args.actual and "full_ast" in report["models"]:
        from firstcrack.models.bench.report import actual_agent_roast

        report["actual_agent_roast_full_ast"] = actual_agent_roast(report)
    if roasts:  # CPU of recording a roast, with and without (models/bench/recording.py)
        from firstcrack.models.bench.recording import full_ast_share, recording_cpu

        report["recording"] = recording_cpu(small, args.threads, repeats=1 if args.quick else 2,
                                            duration_s=120.0 if args.quick else None)
        report["recording"]["full_ast"] = full_ast_share(report)
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def _times(fn: Any, repeats: int) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _stats(wall: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(1e3 * float(np.percentile(wall, 50)), 2),
        "p95_ms": round(1e3 * float(np.percentile(wall, 95)), 2),
        "cpu_ms": round(1e3 * float(np.median(cpu)), 2),
    }


def bench_model(
    model_dir: Path, windows: np.ndarray, run: np.ndarray, repeats: int, args: Any
) -> dict[str, Any]:
    """Latency per variant (model only and whole window), features, accuracy vs torch fp32."""
    from firstcrack.models.bench.variants import load_variants

    variants = load_variants(model_dir, args.threads)
    front = variants[0].classifier.front
    feats = front.fast(windows) if front.fast is not None else front.features(windows)
    one = [feats[i : i + 1] for i in range(len(feats))]
    reference = np.concatenate([variants[1].classifier.predict_features(f) for f in one])
    wall: dict[str, list[float]] = {v.name: [] for v in variants}
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    out: dict[str, Any] = {"dir": str(model_dir), "variants": {}}
    for v in variants:  # warm-up, and accuracy on the same windows
        p = np.concatenate([v.classifier.predict_features(f) for f in one])
        out["variants"][v.name] = {
            "max_abs_dp_vs_torch_fp32": round(float(np.abs(p - reference).max()), 5)
        }
    for r in range(repeats):  # interleaved rounds
        for v in variants:
            w, c = _times(lambda v=v, r=r: v.classifier.predict_features(one[r % len(one)]), 1)
            wall[v.name] += w
            cpu[v.name] += c
    base = np.percentile(wall["baseline"], 50)
    for v in variants:
        entry = out["variants"][v.name] | _stats(wall[v.name], cpu[v.name])
        entry["speedup_vs_baseline"] = round(float(base / np.percentile(wall[v.name], 50)), 3)
        entry["rtf_at_hop"] = round(entry["p50_ms"] / 1e3 / args.hop, 4)
        out["variants"][v.name] = entry
    out["features"] = bench_features(front, run, repeats)
    return out


def bench_features(front: Any, run: np.ndarray, repeats: int) -> dict[str, Any]:
    """Per-window feature time: extractor, vectorised, and incremental over a 3 s-hop run."""
    out: dict[str, Any] = {}
    first = run[:1]
    for mode in ("extractor", "fast"):
        front.mode = mode
        front.features(first)
        w, c = _times(lambda: front.features(first), max(3, repeats))
        out[mode] = _stats(w, c)
    if front.incremental is not None:
        front.mode = "incremental"
        inc = front.incremental
        inc.reset()
        inc.reused_frames = inc.computed_frames = 0
        front.features(run[:1])
        rest = iter(run[1:])
        w, c = _times(lambda: front.features(next(rest)[None]), len(run) - 1)
        out["incremental_3s_hop"] = _stats(w, c) | {
            "frames_reused_fraction": round(
                inc.reused_frames / max(1, inc.reused_frames + inc.computed_frames), 3
            )
        }
    base = out["extractor"]["p50_ms"]
    for entry in out.values():
        entry["speedup_vs_extractor"] = round(base / max(entry["p50_ms"], 1e-6), 2)
    return out


if __name__ == "__main__":  # pragma: no cover - `python -m firstcrack.models.bench.command`
    parser = argparse.ArgumentParser(prog="firstcrack bench")
    add_arguments(parser)
    raise SystemExit(main(parser.parse_args()))
