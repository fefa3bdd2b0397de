"""`firstcrack bench`: what recording a roast costs in CPU (the target: at most 5 %).

One simulated roast goes through the live chain (`build_chain` + `Chain.feed`,
0.1 s blocks, the agent's default config) three ways, interleaved and repeated
so a noisy neighbour hits all alike:

- `chain`: the chain alone;
- `chain_recording`: the chain with a `Recorder` as its sink and fed the same
  blocks, recording the whole roast; the recorder is closed (its writer
  joined) inside the timed span, so the spool, the FLAC encode at the end of
  the roast and the sidecars count;
- `recorder`: the recorder alone, the same blocks and telemetry-free;
- `flac_encode`: of that, the FLAC encode of the roast's spool at its end
  (agent/recording/spool.py), timed on its own.

CPU is process time (`time.process_time`: every thread, so the writer thread
counts), the minimum over the repeats, per roast-minute. The overhead is
reported two ways: `(chain_recording - chain) / chain` (what a user sees,
noisy) and `recorder / chain` (the recorder's own work, steadier). The small
model (demo) is the worst case for the ratio: the cheaper the model, the
bigger the recorder's share. For the full-size AST the recorder's own CPU is
divided by the full AST's CPU per roast-minute from the same report (the
measured `--actual` roast when present, else the agent profile of `roasts`).

The recorder sees a roast running from the first sample with recording on
(a fixed view), so the whole roast is recorded: the most it can cost. The
blocks are fed as fast as the chain takes them, so the writer thread wakes
fewer times than in a live roast (4 times a second).

The figures, with their date and machine: docs/PERFORMANCE.md, "Recording".

`chain_cpu` measures one model's chain alone (`firstcrack bench` does not
call it: a full-size AST roast takes minutes on a small machine); used by
hand, it gives the full AST's measured chain CPU for the full-AST share.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE

BLOCK = 1600  # 0.1 s, as a live source delivers
REFERENCE_FULL_AST = 13.49
"""Full-size AST chain CPU s per roast-minute (int8 ONNX, 1 thread, `chain_cpu`), the
reference for the full-AST share when this run did not measure it (docs/PERFORMANCE.md,
"Recording", gives the machine and date)."""


def _view_source(samples: list[int]) -> Any:
    """A view: a roast from stream 0, never dropped, recording on."""
    from firstcrack.agent.core.roast_view import RoastView
    from firstcrack.agent.core.settings import RuntimeSettings

    settings = RuntimeSettings(recording=True)
    anchor = (0.0, time.time())
    return lambda: RoastView(samples[0] / SAMPLE_RATE, 0.0, None, (), settings, anchor)


def _encode_cpu(audio: np.ndarray, directory: Path) -> float:
    """Process CPU seconds of encoding `audio`'s spool to FLAC, as at a roast's end."""
    from firstcrack.agent.recording.spool import encode
    from firstcrack.agent.recording.writer_commands import Pcm16

    directory.mkdir(parents=True, exist_ok=True)
    Pcm16()(audio).tofile(directory / "x.pcm.part")
    c0 = time.process_time()
    encode(directory / "x.pcm.part", directory / "x.flac")
    return time.process_time() - c0


def _run(audio: np.ndarray, scorer: Any, mode: str, directory: Path) -> float:
    """Process CPU seconds for one pass over `audio` in `mode`."""
    from firstcrack.agent.config import AgentConfig, RecordingConfig
    from firstcrack.agent.live.chain import build_chain
    from firstcrack.agent.recording import Recorder

    config = AgentConfig()
    samples = [0]
    recorder = None
    if mode != "chain":
        recorder = Recorder(RecordingConfig(enabled=True, min_free_gb=0.0, max_roast_min=600),
                            "bench", directory, getattr(scorer, "name", "bench"),
                            _view_source(samples))
    chain = None
    if mode != "recorder":
        chain = build_chain(config, scorer, sinks=[recorder] if recorder is not None else [])
    c0 = time.process_time()
    if recorder is not None:
        recorder.start()
        recorder.publish_settings(None)
    for start in range(0, len(audio), BLOCK):
        block = audio[start : start + BLOCK]
        if recorder is not None:
            recorder.audio(block)
        samples[0] = start + len(block)
        if chain is not None:
            chain.feed(block)
    if recorder is not None:
        recorder.close(timeout=60.0)
    return time.process_time() - c0


def recording_cpu(
    model_dir: Path | None, threads: int, repeats: int = 2, seed: int = 100,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """CPU per roast-minute of the chain with and without the recorder (module docstring)."""
    from firstcrack.models.sim.simulator import simulate_roast

    audio, truth = simulate_roast(seed, duration_s=duration_s)
    if model_dir is not None:
        from firstcrack.models.inference.classifier import load_classifier

        scorer = load_classifier(str(model_dir), backend="onnx", threads=threads)
        scorer_name = f"{model_dir.name} (onnx)"
    else:
        from firstcrack.models.bench.roasts import PopOracleScorer

        scorer = PopOracleScorer(audio, truth.pop_times_s, seed)
        scorer_name = "pop-oracle stand-in (no small model)"
    modes = ("chain", "chain_recording", "recorder")
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    flac_mb = 0.0
    encode_cpu: list[float] = []
    with tempfile.TemporaryDirectory(prefix="firstcrack-bench-rec-") as tmp:
        _run(audio[: 20 * SAMPLE_RATE], scorer, "chain_recording", Path(tmp) / "warm")
        for r in range(repeats):
            for mode in modes:
                folder = Path(tmp) / f"{mode}-{r}"
                cpu[mode].append(_run(audio, scorer, mode, folder))
                if mode == "recorder":
                    flac_mb = sum(p.stat().st_size for p in folder.glob("*.flac")) / 2**20
            encode_cpu.append(_encode_cpu(audio, Path(tmp) / f"encode-{r}"))
    minutes = len(audio) / SAMPLE_RATE / 60.0
    per_min = {m: round(min(v) / minutes, 4) for m, v in cpu.items()}
    per_min["flac_encode"] = round(min(encode_cpu) / minutes, 4)
    base = max(per_min["chain"], 1e-9)
    return {
        "scorer": scorer_name,
        "roast_minutes": round(minutes, 2),
        "repeats": repeats,
        "cpu_s_per_roast_minute": per_min,
        "overhead_with_vs_without": round((per_min["chain_recording"] - base) / base, 4),
        "recorder_share_of_chain": round(per_min["recorder"] / base, 4),
        "flac_mb_per_roast_minute": round(flac_mb / minutes, 2),
    }


def chain_cpu(model_dir: Path, threads: int, seed: int = 100,
              duration_s: float | None = None) -> float:
    """CPU s per roast-minute of the chain alone with `model_dir`'s int8 ONNX model."""
    from firstcrack.models.inference.classifier import load_classifier
    from firstcrack.models.sim.simulator import simulate_roast

    audio, _ = simulate_roast(seed, duration_s=duration_s)
    onnx = model_dir / "onnx" / "int8" / "model_quantized.onnx"
    scorer = load_classifier(str(onnx if onnx.is_file() else model_dir), backend="onnx",
                             threads=threads)
    with tempfile.TemporaryDirectory(prefix="firstcrack-bench-rec-") as tmp:
        cpu = _run(audio, scorer, "chain", Path(tmp))
    return round(cpu / (len(audio) / SAMPLE_RATE / 60.0), 4)


def full_ast_share(report: dict[str, Any]) -> dict[str, Any] | None:
    """The recorder's own CPU against the full AST's, from the same report (or None)."""
    rec = report.get("recording")
    actual = report.get("actual_agent_roast_full_ast")
    modelled = (report.get("roasts") or {}).get("cpu_s_per_roast_minute", {}).get("full_ast")
    if rec is None or (actual is None and modelled is None):
        return None
    if actual is not None:
        full, basis = actual["cpu_s_per_roast_minute"], "measured (--actual)"
    else:
        full, basis = modelled["agent_profile"], "agent profile (roasts)"
    own = rec["cpu_s_per_roast_minute"]["recorder"]
    return {"full_ast_cpu_s_per_roast_minute": full, "basis": basis,
            "recorder_share": round(own / max(full, 1e-9), 4)}


def render(rec: dict[str, Any]) -> list[str]:
    """Table lines for `bench_report.render_table`."""
    c = rec["cpu_s_per_roast_minute"]
    lines = [
        "",
        f"recording ({rec['roast_minutes']} roast-min, scorer: {rec['scorer']}, "
        f"min of {rec['repeats']}): CPU s per roast-minute",
        f"  chain without recorder {c['chain']:.4f}  with recorder {c['chain_recording']:.4f}"
        f"  recorder alone {c['recorder']:.4f} (of which the FLAC encode at the roast's end "
        f"{c.get('flac_encode', 0.0):.4f})",
        f"  overhead {rec['overhead_with_vs_without']:+.1%} (with vs without, noisy), recorder's "
        f"own share {rec['recorder_share_of_chain']:.1%} of this chain (limit 5 %: "
        f"{'within' if rec['recorder_share_of_chain'] <= 0.05 else 'OVER'}); "
        f"FLAC {rec['flac_mb_per_roast_minute']:.2f} MiB per roast-minute",
    ]
    full = rec.get("full_ast")
    if full:
        lines.append(
            f"  [full_ast] recorder {full['recorder_share']:.2%} of "
            f"{full['full_ast_cpu_s_per_roast_minute']:.2f} CPU s per roast-minute "
            f"({full['basis']})"
        )
    else:
        lines.append(
            f"  [full_ast] not measured in this run: recorder "
            f"{c['recorder'] / REFERENCE_FULL_AST:.2%} of {REFERENCE_FULL_AST:.2f} CPU s per "
            f"roast-minute (reference: measured once on the 2-core development machine)"
        )
    return lines
