"""Measure the ear gate: the gated AST against the AST alone at a fixed 3 s hop.

    .venv/bin/python scripts/measure_gate.py [--model ast-demo] [--json OUT]

Each held-out simulated roast (the ear's test seeds, never used to train or choose the ear
or the AST) goes through the agent's chain twice with the same AST and the AST's own
detection profile:

- alone: `detector.gate: off`, `cadence: fixed` (every 3 s window scored);
- gated: the defaults (`detector.gate: auto`): the shipped ear scores every second and
  wakes the AST, which otherwise runs once per `gate_idle_s`.

Per roast: the outcome (detected / missed / false alarm) under each, the extra delay of the
gated decision, and the windows each model scored. Prints a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from firstcrack.agent.config import AgentConfig  # noqa: E402
from firstcrack.agent.offline.analyze import analyze_audio  # noqa: E402
from firstcrack.models.evaluation.event_metrics import Truth, score_event  # noqa: E402
from firstcrack.models.inference.classifier import load_classifier  # noqa: E402
from firstcrack.models.sim.simulator import simulate_roast  # noqa: E402
from firstcrack.models.training.ear_train import specs  # noqa: E402


def roasts(split: str, dense: int, sparse: int, quiet: int) -> list[tuple[int, bool, bool | None]]:
    """(seed, crack, sparse) of the first roasts of each kind in one of the ear's splits
    (models/training/ear_train.py `specs`): test for the figures, select for choosing settings."""
    kinds = {"dense": dense, "sparse": sparse, "quiet": quiet}
    out = []
    for spec in specs():
        kind = "quiet" if not spec.crack else "sparse" if spec.sparse else "dense"
        if spec.split == split and kinds[kind] > 0:
            kinds[kind] -= 1
            out.append((spec.seed, spec.crack, spec.sparse))
    return out


def outcome(row: dict) -> str:
    if row["false_alarm"]:
        return "false_alarm"
    if row["crack"]:
        return "missed" if row["missed"] else "detected"
    return "quiet"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ast-demo")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--select", action="store_true",
                        help="the ear's select seeds instead (for choosing gate settings)")
    args = parser.parse_args()
    chosen = roasts("select", 3, 3, 2) if args.select else roasts("test", 10, 6, 6)
    ast = load_classifier(args.model, threads=1)
    alone = AgentConfig().with_detector(gate="off", cadence="fixed")
    gated = AgentConfig()
    rows = []
    for seed, crack, sparse in chosen:
        audio, truth = simulate_roast(seed, crack=crack, sparse=sparse)
        t = Truth(str(seed), truth.duration, truth.first_crack_onset_s, truth.first_crack_end_s)
        a, g = analyze_audio(audio, ast, alone), analyze_audio(audio, ast, gated)
        ra, rg = score_event(t, a.first_crack), score_event(t, g.first_crack)
        extra = (None if ra["delay_s"] is None or rg["delay_s"] is None
                 else rg["delay_s"] - ra["delay_s"])
        rows.append({"seed": seed, "crack": crack, "sparse": sparse,
                     "alone": outcome(ra), "gated": outcome(rg), "extra_delay_s": extra,
                     "ast_windows_alone": a.scored.get(ast.name, 0),
                     "ast_windows_gated": g.scored.get(ast.name, 0),
                     "ear_windows": sum(n for m, n in g.scored.items() if m != ast.name)})
        print(json.dumps(rows[-1]), flush=True)
    extras = [r["extra_delay_s"] for r in rows if r["extra_delay_s"] is not None]
    ratio = [r["ast_windows_alone"] / max(1, r["ast_windows_gated"]) for r in rows]
    summary = {
        "model": args.model, "roasts": len(rows),
        "same_outcome": sum(r["alone"] == r["gated"] for r in rows),
        "extra_delay_s": {"median": float(np.median(extras)) if extras else None,
                          "worst": float(np.max(extras)) if extras else None,
                          "n": len(extras)},
        "ast_windows_per_roast": {"alone": float(np.mean([r["ast_windows_alone"] for r in rows])),
                                  "gated": float(np.mean([r["ast_windows_gated"] for r in rows]))},
        "fewer_ast_windows": {"median": float(np.median(ratio)), "worst": float(np.min(ratio))},
        "rows": rows,
    }
    text = json.dumps(summary, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
