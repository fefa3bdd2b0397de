"""Fit the ear's second-crack head on `train`, choose its rule on `select`, report `test`.

    python -m firstcrack.models.training.sc_select --cache runs/ear-cache \
        --report docs/quality/second_crack.json --ship models/demo

It reuses the first-crack ear's feature cache (models/training/ear_train.py: the same
frozen backbone features, the same three disjoint seed splits). Second-crack labels come
from the simulator's ground truth, drawn again from each roast's seed without rendering:

- 1: a second-crack pop inside the window, away from its edges;
- 0: no second-crack pop in the window. First-crack pops are negatives on purpose: the
  head must stay quiet through first crack;
- -1 (not trained on): a second-crack pop at an edge.

Where second crack is looked for (`search_start`): from the moment the shipped
first-crack rule confirms first crack on the same features, or from `MIN_ROAST_S` of
roast when it never does. A second-crack event before that moment cannot happen live.
Event figures count from there: false alarms per hour of searched audio without second
crack, misses, and the delay from the true second-crack onset.

Nothing here is tuned on `test`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from firstcrack.models.contracts import SAMPLE_RATE
from firstcrack.models.evaluation.event_metrics import Truth, event_metrics, score_event
from firstcrack.models.evaluation.rule_sweep import (
    MAX_FA_PER_HOUR,
    Scored,
    pick,
    replay,
    rule_settings,
    summarise,
)
from firstcrack.models.evaluation.window_metrics import roc_auc
from firstcrack.models.inference.ear_head import LinearHead, read_ear_spec
from firstcrack.models.inference.profile import DetectionProfile, read_profile
from firstcrack.models.sim.simulator import RoastTruth, draw_timeline
from firstcrack.models.training.ear_data import EDGE_S, RoastFeatures
from firstcrack.models.training.ear_select import fit_head, rule_grid
from firstcrack.models.training.ear_train import WINDOW_S, load_split

MIN_ROAST_S = 480.0
"""Without a first-crack confirmation, second crack is looked for from this roast time."""
HEADS: tuple[tuple[str, float], ...] = (("both", 1.0), ("both", 0.1), ("embedding", 1.0),
                                         ("logits", 1.0))
SHIPPED_FC = Path(__file__).resolve().parents[1] / "demo"


@dataclass(frozen=True)
class ScRoast:
    """One cached roast with its second-crack labels and truth."""

    features: RoastFeatures
    truth: RoastTruth
    labels: np.ndarray


def truth_of(roast: RoastFeatures) -> RoastTruth:
    """The roast's ground truth, drawn again from the seed in its cache key."""
    _split, seed, flags, duration = roast.key.split("-")
    sparse = {"d": None, "s": True, "n": False}[flags[1]]
    return draw_timeline(int(seed), None if duration == "nat" else float(duration),
                         crack=flags[0] == "c", sparse=sparse)


def sc_labels(ends: np.ndarray, pops: Sequence[float], window_s: float = WINDOW_S) -> np.ndarray:
    """1 / 0 / -1 per window for second crack (the module docstring)."""
    times = np.sort(np.asarray(pops, dtype=np.float64))
    starts = ends - window_s
    lo_in = np.searchsorted(times, starts + EDGE_S)
    hi_in = np.searchsorted(times, ends - EDGE_S, side="right")
    lo_touch = np.searchsorted(times, starts - EDGE_S)
    hi_touch = np.searchsorted(times, ends + EDGE_S, side="right")
    inner, touching = hi_in - lo_in, hi_touch - lo_touch
    labels = np.where(inner > 0, 1, 0).astype(np.int8)
    labels[touching > inner] = -1
    return labels


def load(cache: Path, split: str) -> list[ScRoast]:
    out = []
    for roast in load_split(cache, split):
        if roast.key.startswith("popcorn") or roast.key.count("-") != 3:
            continue
        truth = truth_of(roast)
        out.append(ScRoast(roast, truth, sc_labels(roast.ends, truth.second_crack_pop_times_s)))
    return out


def search_start(roast: ScRoast, fc_head: LinearHead, fc: DetectionProfile) -> float:
    """When live second-crack search would begin: FC confirmation, else MIN_ROAST_S."""
    cached = Scored(Truth("fc", roast.truth.duration, None, None), roast.features.ends,
                    fc_head.predict(roast.features.features))
    result = replay(cached, rule_settings(fc), fc.window_s)
    return min(MIN_ROAST_S, roast.truth.duration) if result is None else result.detected_at_s


def searched(roast: ScRoast, head: LinearHead, start: float) -> Scored:
    """The second-crack scores from `start` on, on a clock that starts there."""
    keep = roast.features.ends - WINDOW_S >= start
    t = roast.truth
    onset = None if t.second_crack_onset_s is None else t.second_crack_onset_s - start
    end = None if onset is None else max(t.second_crack_pop_times_s) - start
    truth = Truth(roast.features.key, max(0.0, t.duration - start), onset, end)
    return Scored(truth, roast.features.ends[keep] - start,
                  head.predict(roast.features.features[keep]))


def _fc_model() -> tuple[LinearHead, DetectionProfile]:
    return read_ear_spec(SHIPPED_FC).head, read_profile(SHIPPED_FC / "detection_profile.json")


def fit(cache: Path) -> dict[str, Any]:
    """Fit every head on train, pick head and rule on select; returns the choice."""
    fc_head, fc = _fc_model()
    train, select = load(cache, "train"), load(cache, "select")
    as_sc = [replace(r.features, labels=r.labels) for r in train]
    starts = [search_start(r, fc_head, fc) for r in select]
    rows = []
    for feature_set, l2 in HEADS:
        head = fit_head(as_sc, feature_set, l2)
        cached = [searched(r, head, s) for r, s in zip(select, starts, strict=True)]
        row = pick([summarise(cached, p, WINDOW_S) for p in rule_grid()], MAX_FA_PER_HOUR)
        y = np.concatenate([r.labels for r in select])
        p = np.concatenate([head.predict(r.features.features) for r in select])
        row.update(features=feature_set, l2=l2, select_window_auc=float(roc_auc(y[y >= 0],
                                                                              p[y >= 0])))
        row["head"] = head
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("head",
                                                                    "missed_recordings")}),
              flush=True)
    return pick(rows, MAX_FA_PER_HOUR)


def report(cache: Path, head: LinearHead, profile: DetectionProfile) -> dict[str, Any]:
    """Event figures of a second-crack head and rule on the test split."""
    fc_head, fc = _fc_model()
    test = load(cache, "test")
    settings = rule_settings(profile)
    rows, during_fc = [], 0
    for roast in test:
        start = search_start(roast, fc_head, fc)
        cached = searched(roast, head, start)
        event = replay(cached, settings, WINDOW_S)
        rows.append(score_event(cached.truth, event))
        fc_end = roast.truth.first_crack_end_s
        if event is not None and fc_end is not None and event.detected_at_s + start < fc_end:
            during_fc += 1
    metrics = event_metrics(rows)
    with_sc = [r for r in rows if r["crack"]]
    return {"roasts": len(rows), "with_second_crack": len(with_sc),
            "detected": sum(not r["missed"] for r in with_sc),
            "missed": metrics["missed"], "false_alarms": metrics["false_alarms"],
            "searched_hours_without_second_crack": round(metrics["no_crack_hours"], 2),
            "false_alarms_per_hour": metrics["false_alarms_per_hour"],
            "delay_s": metrics["delay_s"], "events_during_first_crack": during_fc}


def ship(model: Path, head: LinearHead, profile: DetectionProfile) -> None:
    """Add the second-crack head to `model`'s ear.json, and its profile beside it."""
    from firstcrack.models.inference.classifier import SECOND_CRACK_PROFILE
    from firstcrack.models.inference.ear_head import write_ear_spec

    spec = read_ear_spec(model)
    write_ear_spec(model, Path(os.path.relpath(spec.backbone, model)).as_posix(), spec.feed,
                   spec.window_s, spec.head, second_crack=head)
    (model / SECOND_CRACK_PROFILE).write_text(json.dumps({
        "threshold": profile.threshold, "rule": profile.rule,
        "min_positive": profile.min_positive, "confirm_s": profile.confirm_s,
        "window_s": profile.window_s, "hop_s": profile.hop_s, "note": profile.note,
    }, indent=2) + "\n")


def clip_check(model: Path, folder: Path) -> dict[str, Any]:
    """The shipped second-crack output on real first-crack clips (evaluation only): how many
    clips, and 2 s windows every 0.5 s inside them, reach its threshold."""
    from firstcrack.models.evaluation.clips import load_clips
    from firstcrack.models.inference.classifier import load_classifier

    ear = load_classifier(str(model))
    threshold = ear.second_crack_profile.threshold  # type: ignore[attr-defined]
    win, step = int(WINDOW_S * SAMPLE_RATE), SAMPLE_RATE // 2
    fired_clips, windows, fired = 0, 0, 0
    clips = load_clips(folder, "crack")
    for _, audio in clips:
        audio = np.pad(audio, (0, max(0, win - len(audio))))
        batch = np.stack([audio[s:s + win] for s in range(0, len(audio) - win + 1, step)])
        _, second = ear.predict_heads(batch)  # type: ignore[attr-defined]
        hits = int(np.count_nonzero(second >= threshold))
        windows, fired = windows + len(batch), fired + hits
        fired_clips += hits > 0
    return {"clips": len(clips), "clips_over_threshold": fired_clips, "windows": windows,
            "windows_over_threshold": fired, "threshold": threshold}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--ship", type=Path, help="add the chosen head to this ear model")
    parser.add_argument("--report", type=Path, help="write the test figures here (JSON)")
    parser.add_argument("--clips", type=Path,
                        help="only check a shipped model (--ship) on real first-crack clips")
    args = parser.parse_args(argv)
    if args.clips is not None:
        print(json.dumps(clip_check(args.ship, args.clips)))
        return 0
    row = fit(args.cache)
    head = row.pop("head")
    profile = DetectionProfile(
        threshold=row["threshold"], rule=row["rule"], min_positive=row["min_positive"],
        confirm_s=row["confirm_s"], window_s=WINDOW_S, hop_s=1.0,
        note="second crack, chosen by models/training/sc_select.py on the select split: "
             f"fewest misses within {MAX_FA_PER_HOUR} false alarms per hour, then delay")
    test = report(args.cache, head, profile)
    chosen = {k: v for k, v in row.items() if k != "missed_recordings"}
    print("chosen:", json.dumps(chosen))
    print("test:", json.dumps(test))
    if args.report is not None:
        args.report.write_text(json.dumps({"chosen_on_select": chosen, "test": test},
                                          indent=2) + "\n")
    if args.ship is not None:
        ship(args.ship, head, profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
