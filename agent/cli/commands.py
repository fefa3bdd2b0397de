"""Command handlers behind `agent/cli/entry.py`; each returns an exit code."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from agent.config import AgentConfig

log = logging.getLogger("firstcrack.cli")


def _config(args: argparse.Namespace) -> AgentConfig:
    """`--config` with `--model`/`--backend`/`--threads` merged over it, validated.

    A flag that was given is an override even when falsy (`--threads 0`), so
    the config rejects it by name instead of silently ignoring it.
    """
    from agent.config import load_config

    overrides = {
        key: getattr(args, key)
        for key in ("model", "backend", "threads")
        if getattr(args, key, None) is not None
    }
    return load_config(getattr(args, "config", None), overrides=overrides)


def _log_effective(config: AgentConfig) -> None:
    """The whole configuration in force, secrets masked, at DEBUG (`--debug` or log_level)."""
    from agent.config import redacted

    if log.isEnabledFor(logging.DEBUG):
        log.debug("effective configuration: %s", json.dumps(redacted(config), sort_keys=True))


def _classifier(config: AgentConfig) -> Any:
    from models.classifier import load_classifier

    return load_classifier(config.model, backend=config.backend, threads=config.threads)


def read_audio(path: Path) -> np.ndarray:
    """A whole recording as 16 kHz mono float32, via the same reader `run` streams with."""
    from agent.config import AudioConfig
    from agent.sources import open_source

    source = open_source(f"file:{path}", AudioConfig(), speed=0)
    chunks = list(source)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def cmd_run(args: argparse.Namespace) -> int:
    from agent.cli.entry import UsageError
    from agent.core.sinks import JsonLinesSink
    from agent.live.app import build_agents, run_agents
    from agent.sources import open_source, open_sources

    config = _config(args)
    logging.getLogger().setLevel(config.log_level if not args.debug else logging.DEBUG)
    _log_effective(config)
    if config.roasters:
        if args.source is not None:
            raise UsageError("--source cannot be used with `roasters:` in the config")
        wanted = [(r.source, r.channel) for r in config.roasters]
        sources = open_sources(wanted, config.audio, speed=args.speed)
    else:
        sources = [open_source(args.source or "mic", config.audio, speed=args.speed)]
    scorer = _classifier(config)
    many = len(sources) > 1

    def jsonl(agent_id: str) -> list[JsonLinesSink]:
        if args.quiet:
            return []
        return [JsonLinesSink(tag={"agent_id": agent_id} if many else None)]

    agents = build_agents(config, sources, scorer, extra_sinks=jsonl, mqtt=not args.no_mqtt)
    run_agents(agents)
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """Detect first crack in a recording; 2 when it is shorter than one window.

    A recording shorter than `detector.window_s` gives the detector no window
    at all, so "no first crack detected (0 windows)" would be true but
    useless. It is a user error (exit 2, like an unreadable file), said
    before the model is loaded: the input cannot be analysed, whatever the model.
    """
    from agent.cli.entry import UsageError
    from agent.live.analyze import analyze_audio
    from agent.live.chain import SAMPLE_RATE
    from agent.tools.plots import plot_analysis
    from models.extras import require

    if args.plot:  # before the analysis, not after it
        require("plots", "`analyze --plot`")
    config = _config(args)
    _log_effective(config)
    audio = read_audio(args.audio)
    duration_s, window_s = len(audio) / SAMPLE_RATE, config.detector.window_s
    if duration_s < window_s:
        raise UsageError(
            f"{args.audio} is {duration_s:.1f} s long, shorter than one {window_s:g} s window: "
            "nothing to analyze"
        )
    scorer = _classifier(config)
    result = analyze_audio(audio, scorer, config, progress=True)
    payload = result.to_json_dict()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(payload, indent=2) + "\n")
    if args.plot:
        plot_analysis(result, args.plot, truth_path=args.audio.with_suffix(".json"))
    fc = payload["first_crack"]
    if fc is None:
        print(f"{args.audio}: no first crack detected ({len(result.windows)} windows)")
    else:
        print(
            f"{args.audio}: first crack onset {fc['onset_s']:.1f} s, "
            f"confirmed at {fc['detected_at_s']:.1f} s (p={fc['probability']:.2f})"
        )
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from models.simulator import write_roast

    second = {"auto": None, "yes": True, "no": False}[args.second_crack]
    sparse = {"auto": None, "yes": True, "no": False}[args.sparse]
    wav, truth = write_roast(
        args.out,
        args.seed,
        duration_s=args.duration,
        crack=not args.no_crack,
        second_crack=second,
        sparse=sparse,
    )
    info = json.loads(truth.read_text())
    onset = info.get("first_crack_onset_s")
    where = "no first crack" if onset is None else f"first crack at {onset:.1f} s"
    print(f"wrote {wav} ({info['duration']:.1f} s, {where}) and {truth}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from models.export import export_onnx

    windows = None
    if args.verify_audio:
        audio = read_audio(args.verify_audio)
        starts = np.linspace(0, max(0, len(audio) - 160000), num=4).astype(int)
        windows = np.stack([audio[s : s + 160000] for s in starts])
    report = export_onnx(args.model_dir, args.out_dir, verify_windows=windows)
    print(f"fp32: {report.fp32_path}  max |dp| vs torch = {report.max_abs_diff_fp32:.2e}")
    print(f"int8: {report.int8_path}  max |dp| vs torch = {report.max_abs_diff_int8:.2e}")
    print(f"verified on {report.n_windows} windows")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from agent.tools.demo import run_demo

    return run_demo(args)


HANDLERS = {
    "run": cmd_run,
    "analyze": cmd_analyze,
    "simulate": cmd_simulate,
    "export": cmd_export,
    "demo": cmd_demo,
}


def add_optional_commands(sub: argparse._SubParsersAction) -> None:
    """train / evaluate / bench: their option sets live with their implementations."""
    from agent.cli.lifecycle import register

    register(sub, HANDLERS)
