"""The evaluation run behind `firstcrack evaluate` (options: models/evaluation/event_eval.py).

Each whole recording goes through `firstcrack.agent.offline.analyze.analyze_audio`, the chain
`firstcrack run` builds from the same config (agent/live/chain.py: windower,
adaptive cadence with lookback, pop counter, classifier, detector), so the
numbers describe the agent, not a lab version of it. Window metrics are
computed on the windows the live path scored (every `hop_s`, fewer with the
adaptive cadence), each labelled by the 50 % overlap rule; event metrics
(models/evaluation/event_metrics.py) come from the detector's one event per roast.
The published chunk layout has no whole recordings, so it gets window metrics
only.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.offline.analyze import analyze_audio
from firstcrack.models.contracts import UserError
from firstcrack.models.datasets.layouts import detect_layout, load_chunk_layout, load_recordings
from firstcrack.models.datasets.records import Recording, label_window
from firstcrack.models.datasets.simulated import simulated_dataset
from firstcrack.models.evaluation.event_metrics import Truth, event_metrics, score_event
from firstcrack.models.evaluation.window_metrics import (
    finite_json,
    plot_roc,
    plot_sweep,
    score_windows,
    threshold_sweep,
    window_metrics,
)

log = logging.getLogger(__name__)

DEFAULT_EVAL_SEED_OFFSET = 10_000
"""Simulator seeds for evaluation start here, far from training's default of 0."""


class EvaluateError(UserError, ValueError):
    """Bad evaluation input (no recordings, seeds that overlap training)."""


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
    from firstcrack.models.inference.classifier import resolve_model_ref

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
    from firstcrack.models.inference.classifier import load_classifier

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
    """The rule trade-off on the recordings `_run` analysed (models/evaluation/rule_sweep.py).

    The sweep replays the detector over fixed-hop scores: with `cadence: fixed`
    those are the analyses already made; otherwise the recordings are scored
    once more at the fixed hop.
    """
    from firstcrack.models.evaluation.rule_sweep import (
        format_row,
        score_fixed,
        scored_of,
        sweep,
        write_sweep,
    )

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


_RunResult = tuple[np.ndarray, np.ndarray, list[dict[str, Any]], list[dict[str, str]],
                   list[tuple[Recording, Any]]]


def _run(classifier: Any, data: Path, config: AgentConfig, audio_offset_s: float,
         progress: bool) -> _RunResult:
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
    rows: list[dict[str, Any]] = []
    analysed: list[tuple[Recording, Any]] = []
    for rec in tqdm(recordings, desc="evaluate", unit="roast", disable=not progress):
        analysis = analyze_audio(rec.audio, classifier, config)
        for end_s, p in analysis.windows:
            labels.append(label_window(end_s - window_s, window_s, rec.regions))
            probs.append(p)
        rows.append(score_event(Truth.of(rec), analysis.first_crack))
        analysed.append((rec, analysis))
    return np.array(labels), np.array(probs), rows, problems, analysed
