"""`firstcrack analyze`: detect first crack in a recording through the live path."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from firstcrack.agent.cli import options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("audio", type=Path, help="wav/flac/ogg, any rate and channels")
    options.add_config_option(parser, "detector settings from agent.yaml")
    options.add_model_options(parser, "default: the published checkpoint")
    parser.add_argument("--json", type=Path, dest="json_out", help="write results as JSON")
    parser.add_argument("--plot", type=Path, help="write a PNG of probability over time")


def main(args: argparse.Namespace) -> int:
    """Detect first crack in a recording; 2 when it is shorter than one window.

    A recording shorter than `detector.window_s` gives the detector no window at all, so
    "no first crack detected (0 windows)" would be true but useless. It is a user error
    (exit 2, like an unreadable file), said before the model is loaded: the input cannot
    be analysed, whatever the model.
    """
    from firstcrack.agent.offline.analyze import analyze_audio
    from firstcrack.agent.offline.analyze_plot import plot_analysis
    from firstcrack.agent.sources import read_recording
    from firstcrack.models.contracts import SAMPLE_RATE
    from firstcrack.models.extras import require

    if args.plot:  # before the analysis, not after it
        require("plots", "`analyze --plot`")
    config = options.config_from_args(args)
    options.log_effective(config)
    audio = read_recording(args.audio)
    duration_s, window_s = len(audio) / SAMPLE_RATE, config.detector.window_s
    if duration_s < window_s:
        raise options.UsageError(
            f"{args.audio} is {duration_s:.1f} s long, shorter than one {window_s:g} s window: "
            "nothing to analyze"
        )
    scorer = options.load_scorer(config)
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
