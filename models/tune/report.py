"""`firstcrack tune`'s gate: both models on the same held-out roasts, through the live path.

Each held-out recording goes through `agent.offline.analyze.analyze_audio` (the chain `run`
builds from the same config) and its one event is scored by
`models.evaluation.event_metrics.score_event`, the project's definitions: a miss is a crack roast
with no event in [onset - 30 s, end]; a false alarm is any event in a no-crack roast or one
more than 30 s before the labelled onset.

The candidate replaces the current model only when, on those roasts, it has no more misses,
no more false alarms, and a median |onset error| at most `ONSET_TOLERANCE_S` worse. 2 s is
below the 3 s hop at which the detector sees the audio, so a tie within one hop is a tie.
When the current model detected nothing, any candidate error passes that third test; when
the candidate detected nothing but the current one did, it has more misses anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.offline.analyze import analyze_audio
from firstcrack.models.datasets.records import Recording
from firstcrack.models.evaluation.event_metrics import Truth, score_event

ONSET_TOLERANCE_S = 2.0


def event_rows(recordings: Sequence[Recording], scorer: Any, config: AgentConfig
               ) -> list[dict[str, Any]]:
    """One `score_event` row per recording, through the live detection path."""
    return [score_event(Truth.of(rec), analyze_audio(rec.audio, scorer, config).first_crack)
            for rec in recordings]


def summarise(name: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The table row: roasts, misses, false alarms, median and worst |onset error| (s)."""
    errors = [abs(r["onset_error_s"]) for r in rows if r["onset_error_s"] is not None]
    return {
        "model": name, "roasts": len(rows),
        "crack_roasts": sum(bool(r["crack"]) for r in rows),
        "misses": sum(bool(r["crack"] and r["missed"]) for r in rows),
        "false_alarms": sum(bool(r["false_alarm"]) for r in rows),
        "median_abs_onset_error_s": float(np.median(errors)) if errors else None,
        "worst_abs_onset_error_s": float(max(errors)) if errors else None,
        "per_roast": [{k: r[k] for k in ("recording_id", "missed", "false_alarm",
                                         "onset_error_s", "detected_onset_s")} for r in rows],
    }


def gate(current: dict[str, Any], candidate: dict[str, Any],
         tolerance_s: float = ONSET_TOLERANCE_S) -> tuple[bool, list[str]]:
    """(passes, reasons it does not) by the rule in the module docstring."""
    reasons = []
    if candidate["misses"] > current["misses"]:
        reasons.append(f"more misses ({candidate['misses']} vs {current['misses']})")
    if candidate["false_alarms"] > current["false_alarms"]:
        reasons.append(f"more false alarms ({candidate['false_alarms']} vs "
                       f"{current['false_alarms']})")
    cur, new = current["median_abs_onset_error_s"], candidate["median_abs_onset_error_s"]
    if cur is not None and new is not None and new > cur + tolerance_s:
        reasons.append(f"median |onset error| {new:.1f} s vs {cur:.1f} s (tolerance "
                       f"{tolerance_s:g} s)")
    return not reasons, reasons


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The comparison as a fixed-width table."""
    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    lines = [f"{'model':<10} {'roasts':>6} {'misses':>6} {'false alarms':>12} "
             f"{'median |err| s':>14} {'worst |err| s':>13}"]
    for r in rows:
        lines.append(f"{r['model']:<10} {r['roasts']:>6} {r['misses']:>6} "
                     f"{r['false_alarms']:>12} {sec(r['median_abs_onset_error_s']):>14} "
                     f"{sec(r['worst_abs_onset_error_s']):>13}")
    return "\n".join(lines)
