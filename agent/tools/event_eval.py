"""`firstcrack evaluate`: window metrics and event metrics through the live detector path.

Each whole recording goes through `agent.live.analyze.analyze_audio`, the chain
`firstcrack run` builds from the same config (agent/live/chain.py: windower,
adaptive cadence with lookback, pop counter, classifier, detector), so the
numbers describe the agent, not a lab version of it. `--config` reads an
agent.yaml; `--threshold`, `--rule` and the other flags override its keys.
Window metrics are computed on the windows the live path scored (every
`hop_s`, fewer with the adaptive cadence), each labelled by the 50 % overlap rule;
event metrics come from the detector's one event per roast. The published
chunk layout has no whole recordings, so it gets window metrics only.

Event rules (times in seconds from the start of the recording). The event's
time is `detected_at_s`, when a live agent would have announced it.
- crack roast, event within [true onset - 30 s, true end]: a hit; onset error
  = detected onset - true onset, delay = detected_at - true onset.
- crack roast, no event, or an event after the true end: missed.
- crack roast, event before onset - 30 s: a false alarm (and also missed,
  since the detector fires once per roast).
- no-crack roast, any event: a false alarm.
False alarms per hour divide by the audio where a false alarm could occur:
whole no-crack roasts plus the first max(0, onset - 30 s) of crack roasts.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.config import AgentConfig
from agent.live.analyze import analyze_audio
from models.datasets import (
    LABELS,
    Recording,
    detect_layout,
    label_window,
    load_chunk_layout,
    load_recordings,
    simulated_dataset,
)
from models.evaluate import (
    finite_json,
    plot_roc,
    plot_sweep,
    score_windows,
    threshold_sweep,
    window_metrics,
)
from models.train import add_data_arguments

log = logging.getLogger(__name__)

EARLY_MARGIN_S = 30.0
"""Seconds before the true onset from which an event still counts as a hit."""
DEFAULT_EVAL_SEED_OFFSET = 10_000
"""Simulator seeds for evaluation start here, far from training's default of 0."""


class EvaluateError(ValueError):
    """Bad evaluation input (no recordings, seeds that overlap training)."""


@dataclass(frozen=True)
class Truth:
    """Ground truth of one recording: first-crack span (None for a no-crack roast), seconds."""

    recording_id: str
    duration_s: float
    onset_s: float | None
    end_s: float | None

    @classmethod
    def of(cls, rec: Recording) -> Truth:
        if not rec.regions:
            return cls(rec.recording_id, rec.duration_s, None, None)
        return cls(rec.recording_id, rec.duration_s, rec.regions[0][0],
                   max(hi for _, hi in rec.regions))


def score_event(truth: Truth, event: Any | None) -> dict[str, Any]:
    """One recording's outcome; `event` has `.onset_s`, `.detected_at_s`, `.probability`."""
    row: dict[str, Any] = {**asdict(truth), "crack": truth.onset_s is not None,
                           "detected_onset_s": None, "detected_at_s": None, "probability": None,
                           "onset_error_s": None, "delay_s": None, "missed": False,
                           "false_alarm": False}
    if event is not None:
        row.update(detected_onset_s=float(event.onset_s),
                   detected_at_s=float(event.detected_at_s), probability=float(event.probability))
    if truth.onset_s is None:
        row["false_alarm"] = event is not None
        row["no_crack_s"] = truth.duration_s
        return row
    earliest = truth.onset_s - EARLY_MARGIN_S
    row["no_crack_s"] = min(max(0.0, earliest), truth.duration_s)
    if event is None or row["detected_at_s"] > truth.end_s:
        row["missed"] = True
    elif row["detected_at_s"] < earliest:
        row["missed"] = row["false_alarm"] = True
    else:
        row["onset_error_s"] = row["detected_onset_s"] - truth.onset_s
        row["delay_s"] = row["detected_at_s"] - truth.onset_s
    return row


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64)
    return {"median": float(np.median(a)), "mean": float(a.mean()), "max": float(a.max()),
            "min": float(a.min()), "max_abs": float(np.abs(a).max())}


def event_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summary over `score_event` rows: hits, missed, false alarms per hour, error stats."""
    crack = [r for r in rows if r["crack"]]
    hits = [r for r in crack if r["onset_error_s"] is not None]
    hours = sum(r["no_crack_s"] for r in rows) / 3600.0
    false_alarms = sum(r["false_alarm"] for r in rows)
    return {
        "recordings": len(rows), "crack_recordings": len(crack),
        "detected": len(hits), "missed": len(crack) - len(hits),
        "missed_recordings": [r["recording_id"] for r in crack if r["missed"]],
        "false_alarms": int(false_alarms), "no_crack_hours": hours,
        "false_alarms_per_hour": false_alarms / hours if hours > 0 else None,
        "onset_error_s": _stats([r["onset_error_s"] for r in hits]),
        "delay_s": _stats([r["delay_s"] for r in hits]),
    }


def trained_seeds(model_dir: Path) -> set[int]:
    """Simulator seeds listed by every `train_report*.json` in a model directory.

    A model fine-tuned in stages keeps one report per stage (e.g. the shipped
    demo: `train_report_stage1.json` from scratch, `train_report.json` on top).
    """
    used: set[int] = set()
    for report in sorted(model_dir.glob("train_report*.json")):
        simulated = json.loads(report.read_text()).get("simulated") or {}
        used |= set(simulated.get("crack_seeds", [])) | set(simulated.get("no_crack_seeds", []))
    return used


def _seed_overlap(model: str, seeds: Sequence[int]) -> list[int]:
    """Evaluation seeds that the model's own training reports say it trained on."""
    from models.classifier import resolve_model_ref

    model_dir = Path(resolve_model_ref(model))
    if not model_dir.is_dir():
        return []
    return sorted(trained_seeds(model_dir) & set(seeds))


def evaluate(
    model: str, data: str | Path | None = None, simulate: tuple[int, int] | None = None,
    sim_seed_offset: int = DEFAULT_EVAL_SEED_OFFSET, sim_duration: float | None = None,
    sim_dir: str | Path | None = None, backend: str = "auto", threads: int | None = None,
    config: AgentConfig | None = None,
    json_out: str | Path | None = None, plots: str | Path | None = None,
    audio_offset_s: float = 0.0, progress: bool = False, sweep: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate `model` on `data` or on freshly simulated held-out roasts; returns the JSON dict.

    `config` (default: built-in defaults) gives the detector and cadence, as
    for `run`. Window metrics use the detector's threshold. Raises
    EvaluateError (or DatasetError / ModelLoadError) for bad input.
    """
    from models.classifier import load_classifier

    started, config = time.monotonic(), config or AgentConfig()
    settings, window_s = config.detector.to_settings(), config.detector.window_s
    if (data is None) == (simulate is None):
        raise EvaluateError("give exactly one of --data DIR and --simulate N_CRACK,N_NOCRACK")
    classifier = load_classifier(model, backend=backend, threads=threads)
    result: dict[str, Any] = {"model": model, "settings": asdict(settings), "window_s": window_s,
                              "detector": config.detector.model_dump()}
    with tempfile.TemporaryDirectory(prefix="firstcrack-eval-") as scratch:
        if simulate is not None:
            first_none = sim_seed_offset + simulate[0]
            crack = list(range(sim_seed_offset, first_none))
            none = list(range(first_none, first_none + simulate[1]))
            overlap = _seed_overlap(model, crack + none)
            if overlap:
                raise EvaluateError(f"simulator seeds {overlap} were used to train {model}; "
                                    "choose another --sim-seed-offset")
            data = Path(sim_dir) if sim_dir else Path(scratch)
            simulated_dataset(data, crack, none, duration_s=sim_duration)
            result["simulated"] = {"crack_seeds": crack, "no_crack_seeds": none,
                                   "duration_s": sim_duration}
        result["data"] = str(data)
        labels, probs, rows, problems, analysed = _run(
            classifier, Path(data), config, audio_offset_s, progress  # type: ignore[arg-type]
        )
        if sweep is not None and analysed:
            result["rule_sweep"] = _sweep(classifier, analysed, config, progress, Path(sweep),
                                          model)
    result.update(
        window_metrics=window_metrics(labels, probs, settings.threshold),
        threshold_sweep=threshold_sweep(labels, probs),
        events=event_metrics(rows) if rows else None, recordings=rows, problems=problems,
    )
    if plots is not None:
        folder = Path(plots)
        result["plots"] = [str(plot_roc(labels, probs, folder / "roc.png", f"ROC - {model}")),
                           str(plot_sweep(result["threshold_sweep"], folder / "sweep.png"))]
    result["wall_time_s"] = time.monotonic() - started
    result = finite_json(result)
    if json_out is not None:
        Path(json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(json_out).write_text(json.dumps(result, indent=2) + "\n")
    return result


def _sweep(classifier: Any, analysed: list[tuple[Recording, Any]], config: AgentConfig,
           progress: bool, folder: Path, model: str) -> dict[str, Any]:
    """The rule trade-off on the recordings `_run` analysed (agent/tools/rule_sweep.py).

    The sweep replays the detector over fixed-hop scores: with `cadence: fixed`
    those are the analyses already made; otherwise the recordings are scored
    once more at the fixed hop.
    """
    from agent.tools.rule_sweep import format_row, score_fixed, scored_of, sweep, write_sweep

    if config.detector.cadence == "fixed":
        scored = [scored_of(Truth.of(rec), analysis) for rec, analysis in analysed]
    else:
        scored = score_fixed([rec for rec, _ in analysed], classifier, config, progress)
    found = sweep(scored, config.detector.to_settings(), config.detector.window_s)
    files = write_sweep(found, folder, f"confirmation rules - {model}")
    for name in ("best", "published"):
        log.info("%s: %s", name, format_row(found[name]))
    return {"best": found["best"], "best_per_rule": found["best_per_rule"],
            "published": found["published"], "files": [str(f) for f in files]}


def _run(classifier: Any, data: Path, config: AgentConfig, audio_offset_s: float,
         progress: bool):
    """(window labels, window probabilities, per-recording event rows, problems, and each
    recording with its analysis; the last two are empty for the chunk layout)."""
    problems: list[dict[str, str]] = []
    window_s = config.detector.window_s
    if detect_layout(data) == "chunks":
        splits = load_chunk_layout(data, window_s, problems)
        chunks = splits.get("test") or [c for part in splits.values() for c in part]
        if not chunks:
            raise EvaluateError(f"{data}: no readable chunks")
        probs = score_windows(classifier, [c.audio for c in chunks])
        return np.array([c.label for c in chunks]), probs, [], problems, []
    recordings = load_recordings(data, problems, audio_offset_s)
    if not recordings:
        raise EvaluateError(f"{data}: no annotated recordings ({len(problems)} problems)")
    labels: list[int] = []
    probs: list[float] = []
    rows = []
    analysed = []
    for rec in tqdm(recordings, desc="evaluate", unit="roast", disable=not progress):
        analysis = analyze_audio(rec.audio, classifier, config)
        for end_s, p in analysis.windows:
            labels.append(label_window(end_s - window_s, window_s, rec.regions))
            probs.append(p)
        rows.append(score_event(Truth.of(rec), analysis.first_crack))
        analysed.append((rec, analysis))
    return np.array(labels), np.array(probs), rows, problems, analysed


def format_summary(result: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    m = result["window_metrics"]
    auc = "n/a" if m["auc"] is None else f"{m['auc']:.3f}"
    lines = [f"windows: n={m['n']} ({m['positives']} {LABELS[1]}) acc={m['accuracy']:.3f} "
             f"precision={m['precision']:.3f} recall={m['recall']:.3f} f1={m['f1']:.3f} "
             f"auc={auc} @ threshold {m['threshold']:g}"]
    ev = result.get("events")
    if ev:
        err = ev["onset_error_s"]
        fa = ev["false_alarms_per_hour"]
        lines.append(f"events: {ev['detected']}/{ev['crack_recordings']} crack roasts detected, "
                     f"missed {ev['missed']}, false alarms {ev['false_alarms']} "
                     f"({'n/a' if fa is None else f'{fa:.2f}'}/h over "
                     f"{ev['no_crack_hours']:.2f} h)")
        if err:
            lines.append(f"onset error s: median {err['median']:+.1f} mean {err['mean']:+.1f} "
                         f"max|.| {err['max_abs']:.1f}; delay median "
                         f"{ev['delay_s']['median']:.1f} s")
    best = (result.get("rule_sweep") or {}).get("best")
    if best:
        from agent.tools.rule_sweep import format_row

        lines.append(f"best rule on this data: {format_row(best)}")
    if result.get("problems"):
        lines.append(f"problems: {len(result['problems'])} (see the JSON)")
    return "\n".join(lines)


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack evaluate` options; `run_evaluate(args)` consumes them."""
    parser.add_argument("--model", required=True, help="hub id, local dir, .onnx, or `demo`")
    parser.add_argument("--backend", choices=["auto", "onnx", "torch"], default="auto")
    parser.add_argument("--threads", type=int, help="inference threads")
    add_data_arguments(parser, default_offset=DEFAULT_EVAL_SEED_OFFSET)
    parser.add_argument("--sim-dir", type=Path, help="keep the simulated roasts here")
    parser.add_argument("--config", type=Path, help="agent.yaml: detector and cadence as for run")
    parser.add_argument("--window", type=float, help="window length, s")
    parser.add_argument("--threshold", type=float, help="p for a positive window")
    parser.add_argument("--rule", choices=["evidence", "k_of_n"], help="confirmation rule")
    parser.add_argument("--min-positive", type=int, help="evidence needed, positive windows")
    parser.add_argument("--confirm-s", type=float, help="k_of_n span / evidence half-life, s")
    parser.add_argument("--hop", type=float, help="live hop, s")
    parser.add_argument("--cadence", choices=["fixed", "adaptive"], help="inference cadence")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    parser.add_argument("--plots", type=Path, help="write roc.png and sweep.png here")
    parser.add_argument("--sweep", type=Path, metavar="DIR",
                        help="also sweep the confirmation rule: sweep.json + tradeoff.png in DIR")


_OVERRIDES = {"window": "window_s", "threshold": "threshold", "rule": "rule",
              "min_positive": "min_positive", "confirm_s": "confirm_s", "hop": "hop_s",
              "cadence": "cadence"}


def run_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI handler body: map parsed options onto `evaluate` (ConfigError names a bad flag)."""
    from agent.config import load_config

    changes = {key: getattr(args, flag) for flag, key in _OVERRIDES.items()
               if getattr(args, flag) is not None}
    config = load_config(args.config, overrides={"detector": changes} if changes else None)
    return evaluate(
        model=args.model, data=args.data, simulate=args.simulate,
        sim_seed_offset=args.sim_seed_offset, sim_duration=args.sim_duration,
        sim_dir=args.sim_dir, backend=args.backend, threads=args.threads, config=config,
        json_out=args.json_out, plots=args.plots, audio_offset_s=args.audio_offset,
        progress=True, sweep=args.sweep,
    )
