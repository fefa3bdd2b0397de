"""Choose the confirmation rule's parameters from a measured trade-off (`evaluate --sweep`).

As openWakeWord picks its models by false alarms per hour, this module picks
`rule`, `threshold`, `min_positive` and `confirm_s` by what they cost on
whole recordings: missed first cracks and detection delay on crack roasts
against false alarms per hour on audio without first crack.

Method: each recording is scored ONCE through the agent's chain at a fixed
hop (`agent.offline.analyze.analyze_audio`), and the detector (pure, agent/core/detector.py)
is then replayed over those probabilities for every grid point, so the sweep
costs one inference pass however large the grid. The adaptive cadence with
lookback makes the same decisions as the fixed hop (agent/core/cadence.py), so the
figures hold for the default agent too; `evaluate` without `--sweep` measures
the real chain end to end.

Retuning on your own roaster: record a few roasts with and without first
crack, annotate them (`firstcrack train` reads the same layout), then
`firstcrack evaluate --model M --data DIR --sweep OUT_DIR`. It prints the
table, writes `tradeoff.png` and `sweep.json`, and names the best setting.
False alarms are the hard constraint, as a wake-word model is picked by false
positives per hour: among the settings with at most `MAX_FA_PER_HOUR` on the
no-crack audio, the fewest missed first cracks, then the shortest median
delay, then the smallest onset error (when no setting meets the limit, the
fewest false alarms first). Put it in agent.yaml's `detector:` section.

Every grid point is checked against the config (`DetectorConfig`) when the
grid is built, so the sweep can never recommend a setting agent.yaml or a
`/set` would refuse.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.detector import Detector
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.offline.analyze import AnalysisResult, FirstCrackResult, analyze_audio
from firstcrack.models.evaluation.event_metrics import Truth, event_metrics, score_event
from firstcrack.models.inference.profile import DetectionProfile

MAX_FA_PER_HOUR = 0.1
"""False alarms per hour a chosen setting may raise on the sweep's audio."""
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
EVIDENCE_GRID = {"min_positive": (2, 3, 4, 5, 6), "confirm_s": (15.0, 30.0, 60.0, 90.0)}
K_OF_N_GRID = {"min_positive": (2, 3, 4, 5, 6), "confirm_s": (15.0, 20.0, 30.0, 60.0)}


@dataclass(frozen=True)
class Scored:
    """One recording scored at a fixed hop: its truth, window ends (s) and p per window."""

    truth: Truth
    ends: np.ndarray
    probs: np.ndarray


def score_fixed(recordings: Sequence[Any], classifier: Any, config: AgentConfig,
                progress: bool = False) -> list[Scored]:
    """Score every recording once through the chain at the config's fixed hop."""
    from tqdm import tqdm

    fixed = config.with_detector(cadence="fixed")
    return [scored_of(Truth.of(rec), analyze_audio(rec.audio, classifier, fixed))
            for rec in tqdm(recordings, desc="score", unit="roast", disable=not progress)]


def scored_of(truth: Truth, result: AnalysisResult) -> Scored:
    """A fixed-hop analysis as the sweep's cached scores."""
    return Scored(truth, np.array([e for e, _ in result.windows]),
                  np.array([p for _, p in result.windows]))


def rule_settings(profile: DetectionProfile) -> RuntimeSettings:
    """The detector settings a model's detection profile describes, to replay it."""
    return RuntimeSettings(threshold=profile.threshold, rule=profile.rule,  # type: ignore[arg-type]
                           min_positive=profile.min_positive, confirm_s=profile.confirm_s,
                           hop_s=profile.hop_s)


def replay(scored: Scored, settings: RuntimeSettings, window_s: float) -> FirstCrackResult | None:
    """The detector's first-crack decision on cached probabilities (silent windows scored 0)."""
    detector = Detector(window_s=window_s, auto_arm=True)
    for end, p in zip(scored.ends, scored.probs, strict=True):
        c = detector.update(float(end), float(p), False, settings).confirmation
        if c is not None:
            return FirstCrackResult(c.onset_s, c.detected_s, c.probability)
    return None


def grid(base: RuntimeSettings) -> list[RuntimeSettings]:
    """Every (rule, threshold, min_positive, confirm_s) the sweep tries, each config-valid.

    Raises ConfigError naming the key if a grid constant leaves the config's range.
    """
    points = []
    for rule, g in (("evidence", EVIDENCE_GRID), ("k_of_n", K_OF_N_GRID)):
        for t, k, c in itertools.product(THRESHOLDS, g["min_positive"], g["confirm_s"]):
            points.append(replace(base, rule=rule, threshold=t, min_positive=k, confirm_s=c))
    _check_in_config(points)
    return points


def _check_in_config(points: Sequence[RuntimeSettings]) -> None:
    """Validate each distinct point through `AgentConfig.with_detector` (the file's rules)."""
    config = AgentConfig()
    seen = {(p.rule, p.threshold, p.min_positive, p.confirm_s) for p in points}
    for rule, threshold, min_positive, confirm_s in sorted(seen):
        config.with_detector(rule=rule, threshold=threshold, min_positive=min_positive,
                             confirm_s=confirm_s)


def summarise(scored: Sequence[Scored], settings: RuntimeSettings,
              window_s: float) -> dict[str, Any]:
    """Event metrics (models/evaluation/event_metrics.py) of one setting over all recordings."""
    rows = [score_event(s.truth, replay(s, settings, window_s)) for s in scored]
    m = event_metrics(rows)
    errors = [abs(r["onset_error_s"]) for r in rows if r["onset_error_s"] is not None]
    return {
        "rule": settings.rule, "threshold": settings.threshold,
        "min_positive": settings.min_positive, "confirm_s": settings.confirm_s,
        "missed": m["missed"], "crack_recordings": m["crack_recordings"],
        "false_alarms": m["false_alarms"], "no_crack_hours": round(m["no_crack_hours"], 3),
        "false_alarms_per_hour": m["false_alarms_per_hour"],
        "median_abs_onset_error_s": float(np.median(errors)) if errors else None,
        "median_delay_s": m["delay_s"]["median"] if m["delay_s"] else None,
        "missed_recordings": m["missed_recordings"],
    }


def _key(row: dict[str, Any]) -> tuple[float, ...]:
    inf = float("inf")
    return (row["missed"], row["median_delay_s"] or inf, row["median_abs_onset_error_s"] or inf)


def pick(rows: Sequence[dict[str, Any]], max_fa_per_hour: float = MAX_FA_PER_HOUR
         ) -> dict[str, Any]:
    """The best row: fewest misses within the false-alarm limit (see the module docstring)."""
    within = [r for r in rows if (r["false_alarms_per_hour"] or 0.0) <= max_fa_per_hour]
    if within:
        return min(within, key=_key)
    return min(rows, key=lambda r: (r["false_alarms"], *_key(r)))


def sweep(scored: Sequence[Scored], base: RuntimeSettings, window_s: float) -> dict[str, Any]:
    """All grid rows, the best row, and the best row of each rule."""
    rows = [summarise(scored, s, window_s) for s in grid(base)]
    best = pick(rows)
    per_rule = {rule: pick([r for r in rows if r["rule"] == rule])
                for rule in ("evidence", "k_of_n")}
    published = next(r for r in rows if r["rule"] == "k_of_n" and r["threshold"] == 0.6
                     and r["min_positive"] == 5 and r["confirm_s"] == 20.0)
    return {"rows": rows, "best": best, "best_per_rule": per_rule, "published": published}


def plot_tradeoff(result: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Misses (fraction of crack roasts) against false alarms per hour, one marker per setting.

    Needs the [plots] extra (matplotlib).
    """
    from firstcrack.models.extras import require

    require("plots", "the `evaluate --sweep` plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, marker in (("evidence", "o"), ("k_of_n", "x")):
        rows = [r for r in result["rows"] if r["rule"] == rule]
        rng = np.random.default_rng(0)  # jitter so identical points stay visible
        x = [(r["false_alarms_per_hour"] or 0.0) + rng.uniform(0, 0.01) for r in rows]
        y = [r["missed"] / max(1, r["crack_recordings"]) + rng.uniform(0, 0.005) for r in rows]
        ax.scatter(x, y, marker=marker, alpha=0.5, label=f"{rule} ({len(rows)} settings)")
    for name, row, colour in (("chosen", result["best"], "red"),
                              ("published 5 in 20 s", result["published"], "black")):
        ax.scatter([row["false_alarms_per_hour"] or 0.0],
                   [row["missed"] / max(1, row["crack_recordings"])],
                   s=160, facecolors="none", edgecolors=colour, linewidths=2, label=name)
    ax.set_xlabel("false alarms per hour (no-crack audio)")
    ax.set_ylabel("missed first cracks (fraction of crack roasts)")
    ax.set_title(title or "confirmation rule trade-off")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def format_row(row: dict[str, Any]) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    return (f"{row['rule']:<8} thr {row['threshold']:.2f} k {row['min_positive']} "
            f"confirm_s {row['confirm_s']:g}: missed {row['missed']}/{row['crack_recordings']}, "
            f"FA {row['false_alarms']} ({f(row['false_alarms_per_hour'], '.2f')}/h over "
            f"{row['no_crack_hours']:.2f} h), median |onset err| "
            f"{f(row['median_abs_onset_error_s'], '.1f')} s, median delay "
            f"{f(row['median_delay_s'], '.1f')} s")


def write_sweep(result: dict[str, Any], folder: str | Path, title: str = "") -> list[Path]:
    """`sweep.json` and `tradeoff.png` in `folder`."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps(result, indent=2) + "\n")
    return [out / "sweep.json", plot_tradeoff(result, out / "tradeoff.png", title)]
