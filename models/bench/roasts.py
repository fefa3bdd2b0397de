"""Whole simulated roasts through the live path: cadence trade-off and pop-counter accuracy.

Used by `firstcrack bench --roasts N` (models/bench/command.py). Every roast goes
through `analyze_audio` (windower, runtime, detector, and with the adaptive
profile the cadence and pop counter), so the figures describe what the agent
does live, with zero inference latency.

Scoring needs a model that detects cracks. With the shipped demo model it is
used as is; without it, `PopOracleScorer` stands in: p(first_crack) from the
true number of first-crack pops inside each window (a smooth step), plus
noise. It is an honest stand-in for *cadence* measurements (how many windows
are scored, how late the confirming window comes) and says nothing about a
model's accuracy; reports name which scorer was used.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.offline.analyze import analyze_audio
from firstcrack.models.contracts import SAMPLE_RATE

ALIGN = 160  # windows end on whole 10 ms steps (hops and blocks are multiples of 160 samples)


class PopOracleScorer:
    """Stand-in scorer: p from the true first-crack pop count in the window (see module doc).

    p = sigmoid((pops - centre) / scale) + N(0, noise), clipped to [0, 1]. The
    window is located in the roast by its first 64 samples (hash of every 10 ms
    offset), so the scorer needs no stream positions, like a real model.
    """

    name = "pop-oracle"

    def __init__(
        self,
        audio: np.ndarray,
        pop_times_s: list[float],
        seed: int,
        centre: float = 8.0,
        scale: float = 2.0,
        noise: float = 0.08,
    ) -> None:
        self._pops = np.sort(np.asarray(pop_times_s, dtype=np.float64))
        self._index: dict[bytes, int] = {}
        for start in range(0, len(audio) - 64, ALIGN):
            self._index.setdefault(audio[start : start + 64].tobytes(), start)
        self.seed, self.centre, self.scale, self.noise = seed, centre, scale, noise

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        out = np.zeros(len(windows), dtype=np.float32)
        for i, window in enumerate(windows):
            start = self._index.get(np.asarray(window[:64], dtype=np.float32).tobytes())
            if start is None:
                continue
            a, b = start / SAMPLE_RATE, (start + len(window)) / SAMPLE_RATE
            pops = np.searchsorted(self._pops, b) - np.searchsorted(self._pops, a)
            rng = np.random.default_rng((self.seed, start))
            p = 1 / (1 + math.exp(-(pops - self.centre) / self.scale))
            out[i] = float(np.clip(p + self.noise * rng.standard_normal(), 0.0, 1.0))
        return out


@dataclass
class RoastOutcome:
    """One roast under one cadence profile (stream seconds)."""

    seed: int
    crack: bool
    profile: str
    inferences: int
    ear_windows: int
    """Windows the ear gate scored (0 without a gate)."""
    duration_s: float
    onset_true_s: float | None
    detected_at_s: float | None
    delay_s: float | None
    """detected_at_s - true onset (None when missed or no crack)."""
    missed: bool
    false_alarm: bool
    """A no-crack roast confirmed, or a detection before the true onset."""
    wall_s: float
    cpu_s: float
    """Process CPU seconds of the whole analysis (scorer included)."""


@dataclass
class CounterOutcome:
    """Pop counter vs the simulator's true pop times on one roast."""

    seed: int
    true_pops: int
    counted: int
    count_error: float
    """(counted - true) / true."""
    bin_correlation: float
    """Pearson r of per-10 s bin counts, counted vs true."""
    false_before_crack: int
    """Onsets counted before the true first-crack onset (distractors, noise)."""


@dataclass
class RoastStudy:
    scorer: str
    outcomes: list[RoastOutcome] = field(default_factory=list)
    counters: list[CounterOutcome] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by: dict[str, list[RoastOutcome]] = {}
        for o in self.outcomes:
            by.setdefault(o.profile, []).append(o)
        out: dict[str, Any] = {"scorer": self.scorer, "profiles": {}}
        for name, rows in by.items():
            delays = [o.delay_s for o in rows if o.delay_s is not None]
            minutes = sum(o.duration_s for o in rows) / 60.0
            out["profiles"][name] = {
                "roasts": len(rows),
                "crack_roasts": sum(o.crack for o in rows),
                "inferences": sum(o.inferences for o in rows),
                "inferences_per_roast": sum(o.inferences for o in rows) / len(rows),
                "inferences_per_roast_minute": sum(o.inferences for o in rows) / minutes,
                "ear_windows_per_roast": sum(o.ear_windows for o in rows) / len(rows),
                "median_delay_s": float(np.median(delays)) if delays else None,
                "max_delay_s": float(np.max(delays)) if delays else None,
                "missed": sum(o.missed for o in rows),
                "false_alarms": sum(o.false_alarm for o in rows),
            }
        if self.counters:
            c = self.counters
            out["pop_counter"] = {
                "roasts": len(c),
                "median_bin_correlation": float(np.median([x.bin_correlation for x in c])),
                "min_bin_correlation": float(np.min([x.bin_correlation for x in c])),
                "median_count_error": float(np.median([x.count_error for x in c])),
                "mean_abs_count_error": float(np.mean([abs(x.count_error) for x in c])),
                "median_false_before_crack": float(np.median([x.false_before_crack for x in c])),
                "per_roast": [asdict(x) for x in c],
            }
        return out


def counter_outcome(
    seed: int, audio: np.ndarray, truth: Any, onsets_s: list[float]
) -> CounterOutcome:
    """Compare the pop onsets heard in `audio` with the simulator's pops (first + second crack)."""
    true = np.sort(np.asarray(list(truth.pop_times_s) + list(truth.second_crack_pop_times_s)))
    got = np.asarray(onsets_s)
    bins = np.arange(0.0, len(audio) / SAMPLE_RATE + 10.0, 10.0)
    th, _ = np.histogram(true, bins)
    gh, _ = np.histogram(got, bins)
    r = float(np.corrcoef(th, gh)[0, 1]) if th.std() > 0 and gh.std() > 0 else float("nan")
    onset = truth.first_crack_onset_s
    before = int((got < onset).sum()) if onset is not None else len(got)
    err = (len(got) - len(true)) / len(true) if len(true) else float("nan")
    return CounterOutcome(seed, len(true), len(got), round(err, 4), round(r, 4), before)


def run_roast(
    seed: int,
    crack: bool,
    profiles: dict[str, AgentConfig],
    scorer_factory: Any,
    study: RoastStudy,
) -> None:
    """Simulate one roast and push it through each profile's chain (`agent.live.chain`)."""
    from firstcrack.models.sim.simulator import simulate_roast

    audio, truth = simulate_roast(seed, crack=crack)
    scorer = scorer_factory(audio, truth, seed)
    onset = truth.first_crack_onset_s if crack else None
    for name, config in profiles.items():
        started, cpu0 = time.perf_counter(), time.process_time()
        result = analyze_audio(audio, scorer, config)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
        fc = result.first_crack
        detected = None if fc is None else fc.detected_at_s
        early = detected is not None and onset is not None and detected < onset
        study.outcomes.append(
            RoastOutcome(
                seed=seed,
                crack=crack,
                profile=name,
                inferences=len(result.windows),
                ear_windows=sum(n for m, n in result.scored.items() if m != scorer.name),
                duration_s=result.duration_s,
                onset_true_s=onset,
                detected_at_s=detected,
                delay_s=None if detected is None or onset is None or early else detected - onset,
                missed=crack and detected is None,
                false_alarm=(not crack and detected is not None) or early,
                wall_s=round(wall, 3),
                cpu_s=round(cpu, 4),
            )
        )
        if config.detector.cadence == "fixed" and crack:  # count pops once per roast
            study.counters.append(counter_outcome(seed, audio, truth, result.pop_onsets_s))
