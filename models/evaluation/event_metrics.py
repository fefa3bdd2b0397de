"""Event metrics: how one detector decision per roast compares with the truth.

Pure scoring, shared by `firstcrack evaluate` (models/evaluation/event_eval.py), the
rule sweep (models/evaluation/rule_sweep.py) and scripts/detection_quality.py.

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

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from firstcrack.models.datasets.records import Recording

EARLY_MARGIN_S = 30.0
"""Seconds before the true onset from which an event still counts as a hit."""


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
