"""Export the pretrained mn04 backbone to models/pretrained/mn04/mn04_backbone.onnx.

    .venv/bin/python scripts/export_ear_backbone.py [--out PATH]

Needs torch and onnx (the `train` extra). The graph takes the log-mel features of
models/inference/ear_frontend.py, `log_mel` [batch, 1, 128, frames] (both dynamic), and returns
`logits` [batch, 527] and `embedding` [batch, 384]; the export is checked against torch
through onnxruntime before the path is printed with the file's size.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firstcrack.models.inference.ear import BACKBONE_ONNX  # noqa: E402 - after the path set-up above
from firstcrack.models.training.ear_torch import export_backbone_onnx  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BACKBONE_ONNX, help="where to write the graph")
    args = parser.parse_args(argv)
    path = export_backbone_onnx(args.out)
    print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
