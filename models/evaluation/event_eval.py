"""`firstcrack evaluate`: its options, how they become a config, and its terminal summary.

The work is split along two seams: models/evaluation/event_run.py runs recordings
through the live chain (`evaluate`), and models/evaluation/event_metrics.py scores
the one event per roast against the truth (`score_event`, `event_metrics`).
This module is the command line: its options, how they become a config, and the
summary it prints.

Every detector flag (`--threshold`, `--rule`, `--hop`, ...) and `--model`,
`--backend` and `--threads` are *config overrides*: they are merged over
`--config` (and the environment) by `load_config` and validated by the same
pydantic models as agent.yaml, so a flag accepts exactly what the file
accepts. The choices of `--rule`, `--cadence` and `--backend` and the ranges
shown in `--help` are read from the config models, not repeated here. A bad
value is a `ConfigError` (exit 2) that names the flag and the config key.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from firstcrack.agent.config import (
    AgentConfig,
    ConfigError,
    DetectorConfig,
    field_bounds,
    load_config,
)
from firstcrack.models.datasets.options import add_data_arguments
from firstcrack.models.datasets.records import LABELS
from firstcrack.models.evaluation.event_run import (
    DEFAULT_EVAL_SEED_OFFSET,
    evaluate,
)
from firstcrack.models.extras import require

DETECTOR_FLAGS: dict[str, str] = {
    "window": "window_s",
    "threshold": "threshold",
    "rule": "rule",
    "min_positive": "min_positive",
    "confirm_s": "confirm_s",
    "hop": "hop_s",
    "cadence": "cadence",
}
"""argparse dest -> `detector` key it overrides."""
AGENT_FLAGS: dict[str, str] = {"model": "model", "backend": "backend", "threads": "threads"}
"""argparse dest -> top-level config key it overrides."""


def _choices(model: type[AgentConfig] | type[DetectorConfig], name: str) -> tuple[str, ...]:
    """The values of a `Literal[...]` config field."""
    return get_args(model.model_fields[name].annotation)


def _range(name: str) -> str:
    return field_bounds(DetectorConfig, name).describe()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """All `firstcrack evaluate` options; `run_evaluate(args)` consumes them."""
    parser.add_argument("--model", required=True, help="hub id, local dir, .onnx, or `demo`")
    parser.add_argument("--backend", choices=_choices(AgentConfig, "backend"),
                        help="inference backend (default: the config's, auto)")
    parser.add_argument("--threads", type=int, help="inference threads")
    add_data_arguments(parser, default_offset=DEFAULT_EVAL_SEED_OFFSET)
    parser.add_argument("--sim-dir", type=Path, help="keep the simulated roasts here")
    parser.add_argument("--config", type=Path, help="agent.yaml: detector and cadence as for run")
    parser.add_argument("--window", type=float, help=f"window length, s ({_range('window_s')})")
    parser.add_argument("--threshold", type=float,
                        help=f"p for a positive window ({_range('threshold')})")
    parser.add_argument("--rule", choices=_choices(DetectorConfig, "rule"),
                        help="confirmation rule")
    parser.add_argument("--min-positive", type=int,
                        help=f"evidence needed, positive windows ({_range('min_positive')})")
    parser.add_argument("--confirm-s", type=float, help="k_of_n span / evidence half-life, s "
                        f"({_range('confirm_s')})")
    parser.add_argument("--hop", type=float, help=f"live hop, s ({_range('hop_s')})")
    parser.add_argument("--cadence", choices=_choices(DetectorConfig, "cadence"),
                        help="inference cadence")
    parser.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    parser.add_argument("--plots", type=Path, help="write roc.png and sweep.png here")
    parser.add_argument("--sweep", type=Path, metavar="DIR",
                        help="also sweep the confirmation rule: sweep.json + tradeoff.png in DIR")


def config_from_flags(args: argparse.Namespace) -> AgentConfig:
    """`--config` (and the environment) with the given flags merged over it, validated.

    Raises ConfigError; when a flag set the offending key, the message starts
    with that flag (`--hop: invalid configuration: detector.hop_s: ...`).
    """
    given: dict[str, str] = {}  # flag -> dotted config key
    overrides: dict[str, Any] = {}
    detector: dict[str, Any] = {}
    for dest, key in AGENT_FLAGS.items():
        if getattr(args, dest, None) is not None:
            overrides[key] = getattr(args, dest)
            given[_flag(dest)] = key
    for dest, key in DETECTOR_FLAGS.items():
        if getattr(args, dest, None) is not None:
            detector[key] = getattr(args, dest)
            given[_flag(dest)] = f"detector.{key}"
    if detector:
        overrides["detector"] = detector
    try:
        return load_config(args.config, overrides=overrides)
    except ConfigError as exc:
        flags = [flag for flag, key in given.items() if key in exc.keys]
        if not flags:
            raise
        raise ConfigError(f"{', '.join(flags)}: {exc}", exc.keys) from None


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def run_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """The CLI handler body: map parsed options onto `evaluate` through the config."""
    if args.plots is not None or args.sweep is not None:  # before the long part, not after
        require("plots", "`evaluate --plots/--sweep`")
    config = config_from_flags(args)
    return evaluate(
        model=config.model, data=args.data, simulate=args.simulate,
        sim_seed_offset=args.sim_seed_offset, sim_duration=args.sim_duration,
        sim_dir=args.sim_dir, backend=config.backend, threads=config.threads, config=config,
        json_out=args.json_out, plots=args.plots, audio_offset_s=args.audio_offset,
        progress=True, sweep=args.sweep,
    )


def main(args: argparse.Namespace) -> int:
    """Evaluate and print the summary."""
    print(format_summary(run_evaluate(args)))
    return 0


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
        from firstcrack.models.evaluation.rule_sweep import format_row

        lines.append(f"best rule on this data: {format_row(best)}")
    if result.get("problems"):
        lines.append(f"problems: {len(result['problems'])} (see the JSON)")
    return "\n".join(lines)
