"""The roast-level part of `firstcrack bench` and its readable table.

`roast_cpu` pushes simulated roasts through the live path twice: the
*baseline* profile (fixed hop) and the *agent* profile (adaptive cadence), and
turns the measured inference counts into CPU per roast minute for each
benchmarked model, using that model's CPU time per window measured in the
same run: baseline = torch fp32 eager + `ASTFeatureExtractor`; agent = the
fastest variant whose p stays within 0.02 of torch fp32 + incremental
features. The live path's own CPU (windowing, pop counter, detector) is
measured directly and added to both.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

ACCURACY_BUDGET = 0.02
"""Largest |p - p_torch_fp32| a faster variant may show to be picked."""


def best_variant(model: dict[str, Any]) -> str:
    ok = {
        name: v
        for name, v in model["variants"].items()
        if name != "baseline" and v["max_abs_dp_vs_torch_fp32"] <= ACCURACY_BUDGET
    }
    return min(ok, key=lambda n: ok[n]["p50_ms"])


class _TimedScorer:
    """Wraps a scorer and adds up the CPU it uses (to separate it from the live path's own)."""

    def __init__(self, scorer: Any) -> None:
        self.inner, self.name, self.cpu_s = scorer, scorer.name, 0.0
        self.architecture = getattr(scorer, "architecture", "")  # an AST gets the ear gate

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        c0 = time.process_time()
        try:
            return self.inner.predict(windows)
        finally:
            self.cpu_s += time.process_time() - c0


def bench_profiles(hop_s: float) -> dict[str, Any]:
    """The configs compared: the published baseline (fixed hop, 5 positives in 20 s, no
    gate), the agent's adaptive cadence without the ear gate, and the agent's defaults
    (the ear gate in front of the AST; agent/core/gate.py). The last two take the
    model's detection profile for the keys not set here."""
    from firstcrack.agent.config import AgentConfig

    gated = AgentConfig().with_detector(hop_s=hop_s)
    agent = gated.with_detector(gate="off")
    baseline = agent.with_detector(cadence="fixed", rule="k_of_n", min_positive=5, confirm_s=20.0)
    return {"baseline": baseline, "agent": agent, "gated": gated}


def roast_cpu(report: dict[str, Any], roasts: int, hop_s: float,
              small: str = "ast-demo") -> dict[str, Any]:
    """Inference count, detection and CPU per roast minute: baseline vs agent vs gated.

    The small AST (`small`, default `ast-demo`) decides; its window counts stand for
    any AST's. The ear's CPU in the gated profile is part of the live path's own CPU
    (everything but the deciding scorer), measured directly.
    """
    from firstcrack.models.bench.roasts import PopOracleScorer, RoastStudy, run_roast

    demo = report["models"].get(small)
    if demo is not None:
        from firstcrack.models.inference.classifier import load_classifier

        model = load_classifier(demo["dir"], backend="onnx", threads=report["machine"]["threads"])
        scorer_name = f"{small} (onnx int8)"

        def factory(audio: Any, truth: Any, seed: int) -> Any:
            return _TimedScorer(model)
    else:
        scorer_name = "pop-oracle stand-in (no demo model)"

        def factory(audio: Any, truth: Any, seed: int) -> Any:
            return _TimedScorer(PopOracleScorer(audio, truth.pop_times_s, seed))

    profiles = bench_profiles(hop_s)
    study = RoastStudy(scorer_name)
    overhead_cpu: dict[str, float] = {name: 0.0 for name in profiles}
    seeds = [(100 + i, True) for i in range(roasts)] + [
        (200 + i, False) for i in range(roasts // 2)
    ]
    for seed, crack in seeds:
        for name, cfg in profiles.items():
            holder: list[_TimedScorer] = []

            def make(audio: Any, truth: Any, s: int, holder: list = holder) -> Any:
                holder.append(factory(audio, truth, s))
                return holder[-1]

            run_roast(seed, crack, {name: cfg}, make, study)
            overhead_cpu[name] += max(0.0, study.outcomes[-1].cpu_s - holder[-1].cpu_s)
    summary = study.summary()
    minutes = sum(o.duration_s for o in study.outcomes if o.profile == "baseline") / 60.0
    summary["roast_minutes"] = round(minutes, 2)
    summary["live_path_cpu_s_per_roast_minute"] = {
        k: round(v / minutes, 4) for k, v in overhead_cpu.items()
    }
    per_min = {p: summary["profiles"][p]["inferences_per_roast_minute"] for p in profiles}
    summary["cpu_s_per_roast_minute"] = {}
    for key, model in report["models"].items():
        best = best_variant(model)
        feats = model["features"]
        inc = feats.get("incremental_3s_hop", feats["fast"])
        base_cpu = (model["variants"]["baseline"]["cpu_ms"] + feats["extractor"]["cpu_ms"]) / 1e3
        best_cpu = (model["variants"][best]["cpu_ms"] + inc["cpu_ms"]) / 1e3
        base = per_min["baseline"] * base_cpu + overhead_cpu["baseline"] / minutes
        fixed_best = per_min["baseline"] * best_cpu + overhead_cpu["baseline"] / minutes
        agent = per_min["agent"] * best_cpu + overhead_cpu["agent"] / minutes
        gated = per_min["gated"] * best_cpu + overhead_cpu["gated"] / minutes
        summary["cpu_s_per_roast_minute"][key] = {
            "agent_backend": best,
            "baseline_profile": round(base, 3),
            "best_backend_fixed_hop": round(fixed_best, 3),
            "agent_profile": round(agent, 3),
            "gated_profile": round(gated, 3),
            "ratio_backend_only": round(base / fixed_best, 2),
            "ratio_cadence_only": round(fixed_best / agent, 2),
            "ratio_vs_baseline": round(base / agent, 2),
            "ratio_gated_vs_baseline": round(base / gated, 2),
        }
    return summary


def ear_cpu(roasts: int, threads: int) -> dict[str, Any]:
    """The shipped ear (`demo`) as the model: CPU per roast minute through the live path.

    The same roasts as `roast_cpu` (crack seeds 100.., no-crack seeds 200..), each scored
    by the ear with its own profile (2 s windows every second); simulation time excluded.
    """
    from firstcrack.agent.config import AgentConfig
    from firstcrack.agent.offline.analyze import analyze_audio
    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.sim.simulator import simulate_roast

    ear = load_classifier("demo", threads=threads)
    seeds = [(100 + i, True) for i in range(roasts)] + [(200 + i, False)
                                                         for i in range(roasts // 2)]
    cpu = minutes = 0.0
    windows = 0
    for seed, crack in seeds:
        audio, _ = simulate_roast(seed, crack=crack)
        c0 = time.process_time()
        result = analyze_audio(audio, ear, AgentConfig())
        cpu += time.process_time() - c0
        minutes += result.duration_s / 60.0
        windows += result.scored.get(ear.name, 0)
    return {"roasts": len(seeds), "roast_minutes": round(minutes, 2),
            "windows_per_roast_minute": round(windows / minutes, 1),
            "cpu_s_per_roast_minute": round(cpu / minutes, 3),
            "cpu_ms_per_window": round(1000 * cpu / max(1, windows), 2)}


def render_table(report: dict[str, Any]) -> str:
    """A plain-text summary of `measure`'s report."""
    lines = [
        f"firstcrack bench: {report['machine']['cpus']} CPUs, {report['machine']['threads']} "
        f"threads, {report['repeats']} timed runs per variant after 1 warm-up, "
        f"hop {report['hop_s']} s"
    ]
    for note in report["notes"]:
        lines.append(f"note: {note}")
    for key, model in report["models"].items():
        lines.append("")
        lines.append(f"[{key}] per-window model latency (features precomputed); load and peak "
                     "RSS per backend")
        lines.append(
            f"  {'variant':14s} {'p50 ms':>9s} {'p95 ms':>9s} {'cpu ms':>9s} "
            f"{'x baseline':>10s} {'RTF':>7s} {'|dp|':>8s}"
        )
        for name, v in model["variants"].items():
            lines.append(
                f"  {name:14s} {v['p50_ms']:9.1f} {v['p95_ms']:9.1f} {v['cpu_ms']:9.1f} "
                f"{v['speedup_vs_baseline']:10.2f} {v['rtf_at_hop']:7.3f} "
                f"{v['max_abs_dp_vs_torch_fp32']:8.4f}"
            )
        for name, f in model.get("footprint", {}).items():
            if "error" in f:
                lines.append(f"  {name:14s} load failed: {f['error']}")
                continue
            lines.append(
                f"  {name:14s} load {f['load_s']:6.2f} s  peak RSS {f['peak_rss_mb']:6.0f} MB"
                f"  (fresh process{', imports torch' if f['imports_torch'] else ''})"
            )
        lines.append("  features per window:")
        for name, f in model["features"].items():
            lines.append(
                f"    {name:20s} p50 {f['p50_ms']:8.2f} ms  x extractor "
                f"{f['speedup_vs_extractor']:.1f}"
            )
    if report.get("two_roasters"):
        from firstcrack.models.bench.multi import render

        lines += render(report["two_roasters"])
    roasts = report.get("roasts")
    if roasts:
        lines.append("")
        lines.append(
            f"roasts through the live path ({roasts['roast_minutes']} roast-min, "
            f"scorer: {roasts['scorer']})"
        )
        for name, p in roasts["profiles"].items():
            delay = p["median_delay_s"]
            lines.append(
                f"  {name:9s} inferences/roast {p['inferences_per_roast']:6.1f}  "
                f"median delay {'-' if delay is None else f'{delay:.1f} s'}  "
                f"missed {p['missed']}  false alarms {p['false_alarms']}"
            )
        for key, c in roasts["cpu_s_per_roast_minute"].items():
            lines.append(
                f"  [{key}] CPU s per roast-minute: baseline {c['baseline_profile']:.2f}  "
                f"agent ({c['agent_backend']} + adaptive) {c['agent_profile']:.2f}  "
                f"=> x{c['ratio_vs_baseline']:.2f} (backend x{c['ratio_backend_only']:.2f}, "
                f"cadence x{c['ratio_cadence_only']:.2f})"
            )
            lines.append(
                f"  [{key}] gated by the ear ({c['agent_backend']}): {c['gated_profile']:.3f} "
                f"CPU s per roast-minute => x{c['ratio_gated_vs_baseline']:.1f} below baseline"
            )
        pc = roasts.get("pop_counter")
        if pc:
            lines.append(
                f"  pop counter: per-10 s bin r median {pc['median_bin_correlation']:.2f}"
                f" (min {pc['min_bin_correlation']:.2f}), count error median "
                f"{pc['median_count_error']:+.0%}"
            )
    ear = report.get("ear")
    if ear:
        lines.append(
            f"  [demo, the ear] {ear['windows_per_roast_minute']:.0f} windows per roast-minute, "
            f"{ear['cpu_ms_per_window']:.1f} ms CPU each: {ear['cpu_s_per_roast_minute']:.2f} "
            "CPU s per roast-minute (whole chain)")
    actual = report.get("actual_agent_roast_full_ast")
    if actual:
        lines.append(
            f"  [full_ast] measured agent roast (seed {actual['seed']}, {actual['backend']}): "
            f"{actual['inferences']} inferences, {actual['cpu_s']:.1f} CPU s over "
            f"{actual['roast_minutes']:.1f} roast-min = {actual['cpu_s_per_roast_minute']:.2f} "
            "CPU s per roast-minute"
        )
    if report.get("recording"):
        from firstcrack.models.bench.recording import render as render_recording

        lines += render_recording(report["recording"])
    lines.append(f"\npeak RSS {report['peak_rss_mb']:.0f} MB")
    return "\n".join(lines)


class _CostedScorer:
    """Decides with one scorer (a model that detects cracks) while paying for another.

    The random-weight full AST cannot detect cracks, but it costs exactly what
    a trained one does. Running it on every window the cadence asks for, and
    reporting the deciding scorer's p, measures the real CPU of the agent
    profile on the full-size model.
    """

    def __init__(self, decide: Any, pay: Any) -> None:
        self.decide, self.pay, self.name = decide, pay, decide.name
        self.architecture = getattr(pay, "architecture", "")

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        self.pay.predict(windows)
        return self.decide.predict(windows)


def actual_agent_roast(report: dict[str, Any], seed: int = 100) -> dict[str, Any]:
    """Measured (not modelled) process CPU of one crack roast, agent profile, full AST."""
    from firstcrack.models.bench.roasts import PopOracleScorer, RoastStudy, run_roast
    from firstcrack.models.bench.variants import load_variants

    model = report["models"]["full_ast"]
    best = best_variant(model)
    from pathlib import Path

    (variant,) = load_variants(Path(model["dir"]), report["machine"]["threads"], (best,))
    study = RoastStudy("pop-oracle decisions, full AST cost")

    def factory(audio: Any, truth: Any, s: int) -> Any:
        return _CostedScorer(PopOracleScorer(audio, truth.pop_times_s, s), variant.classifier)

    run_roast(seed, True, {"agent": bench_profiles(3.0)["agent"]}, factory, study)
    o = study.outcomes[-1]
    minutes = o.duration_s / 60.0
    return {
        "seed": seed,
        "backend": best,
        "inferences": o.inferences,
        "roast_minutes": round(minutes, 2),
        "cpu_s": round(o.cpu_s, 2),
        "wall_s": o.wall_s,
        "cpu_s_per_roast_minute": round(o.cpu_s / minutes, 3),
    }
