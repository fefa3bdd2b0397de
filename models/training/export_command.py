"""`firstcrack export`: a model folder to ONNX fp32 and int8, verified against torch."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE

VERIFY_WINDOW = 10 * SAMPLE_RATE
"""Samples in each window `--verify-audio` checks (the AST's 10 s)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--verify-audio", type=Path, help="verify on windows of this recording")


def main(args: argparse.Namespace) -> int:
    from firstcrack.agent.sources import read_recording
    from firstcrack.models.training.export import export_onnx

    windows = None
    if args.verify_audio:
        audio = read_recording(args.verify_audio)
        starts = np.linspace(0, max(0, len(audio) - VERIFY_WINDOW), num=4).astype(int)
        windows = np.stack([audio[s : s + VERIFY_WINDOW] for s in starts])
    report = export_onnx(args.model_dir, args.out_dir, verify_windows=windows)
    print(f"fp32: {report.fp32_path}  max |dp| vs torch = {report.max_abs_diff_fp32:.2e}")
    print(f"int8: {report.int8_path}  max |dp| vs torch = {report.max_abs_diff_int8:.2e}")
    print(f"verified on {report.n_windows} windows")
    return 0
