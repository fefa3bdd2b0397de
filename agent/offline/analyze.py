"""Offline analysis through the live path: the chain of `firstcrack.agent.live.chain.build_chain`.

`analyze_audio` pushes a recording through the same chain (windower, adaptive
cadence with lookback, pop counter, classifier, detector, first-crack end)
that `firstcrack run` uses, built from the same config, in 0.1 s blocks as a
live source delivers them. `analyze`, `evaluate` and `bench` all call it, so
their figures describe the agent that runs. The one difference from live is
time: inference is instantaneous here, so no window is ever dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.crack_end import FirstCrackEndEvent
from firstcrack.agent.core.messages import Telemetry
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.chain import SAMPLE_RATE, build_chain
from firstcrack.models.contracts import Scorer

CHUNK_S = 0.1  # what a live source delivers per block


@dataclass(frozen=True)
class FirstCrackResult:
    """onset_s: back-dated onset; detected_at_s: when a live agent knew (both stream s)."""

    onset_s: float
    detected_at_s: float
    probability: float


@dataclass(frozen=True)
class FirstCrackEndResult:
    """end_s: back-dated end of cracking; detected_at_s: when it was decided (stream s)."""

    end_s: float
    detected_at_s: float


@dataclass
class AnalysisResult:
    """Everything `analyze --json` writes, plus the telemetry."""

    first_crack: FirstCrackResult | None
    windows: list[tuple[float, float]]
    model: str
    hop_s: float
    duration_s: float
    window_s: float
    settings: RuntimeSettings
    telemetry: list[Telemetry] = field(default_factory=list)
    first_crack_end: FirstCrackEndResult | None = None
    cadence: str = "fixed"
    pop_onsets_s: list[float] = field(default_factory=list)
    """Onsets the chain's pop counter heard (stream seconds)."""
    detection_profile: dict[str, Any] | None = None
    """The model's detection profile in force (`ProfileInForce.describe`), if any."""
    scored: dict[str, int] = field(default_factory=dict)
    """Model name -> windows that model scored (the gate's ear and the main model)."""
    second_crack: FirstCrackResult | None = None
    """Second crack as the live agent would decide it (agent/core/second_crack.py)."""

    def to_json_dict(self) -> dict[str, Any]:
        fc, end, sc = self.first_crack, self.first_crack_end, self.second_crack
        return {
            "first_crack": None if fc is None else asdict(fc),
            "second_crack": None if sc is None else asdict(sc),
            "first_crack_end": None if end is None else asdict(end),
            "windows": [{"end_s": end_s, "probability": p} for end_s, p in self.windows],
            "model": self.model,
            "hop_s": self.hop_s,
            "cadence": self.cadence,
            "duration_s": self.duration_s,
            "rule": self.settings.rule,
            "threshold": self.settings.threshold,
            "min_positive": self.settings.min_positive,
            "confirm_s": self.settings.confirm_s,
            "window_s": self.window_s,
            "detection_profile": self.detection_profile,
            "scored": self.scored,
        }


PROGRESS_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s [{elapsed}<{remaining}, {rate_fmt}]"
)
"""tqdm's default `{n_fmt}/{total_fmt}` prints the float sum of 0.1 s updates as it is
(`24.900000000000084/90`); this shows audio seconds to 0.1 s (`24.9/90.0 s`)."""


def progress_bar(duration_s: float, enabled: bool = True, **kwargs: Any) -> tqdm:
    """The `analyze` progress bar, counting audio seconds (updated by block lengths).

    Audio seconds, not windows: with the adaptive cadence the number of
    windows is not known ahead. `kwargs` go to tqdm (tests pass `file`).
    """
    return tqdm(total=round(duration_s, 1), unit="s", desc="analyze", disable=not enabled,
                leave=False, bar_format=PROGRESS_FORMAT, **kwargs)  # fmt: skip


def analyze_audio(
    audio: np.ndarray,
    scorer: Scorer,
    config: AgentConfig,
    progress: bool = False,
) -> AnalysisResult:
    """Detect first crack in a whole 16 kHz mono recording, as `run` with `config` would.

    `windows` are sorted by end time; `telemetry` keeps the order the windows
    were scored in (with lookback, re-scored windows come after the idle window
    that woke the cadence).
    """
    sink = ListSink()
    config = config.with_profile(getattr(scorer, "profile", None))
    chain = build_chain(config, scorer, sinks=[sink])
    chunk = max(1, int(CHUNK_S * SAMPLE_RATE))
    bar = progress_bar(len(audio) / SAMPLE_RATE, enabled=progress)
    with bar:
        for start in range(0, len(audio), chunk):
            block = audio[start : start + chunk]
            chain.feed(block)
            bar.update(len(block) / SAMPLE_RATE)
    chain.runtime.apply_pending()  # the ear's last second-crack scores (a gated AST)
    event = chain.runtime.event
    sc = chain.runtime.second_crack_event
    first_crack = (
        None
        if event is None
        else FirstCrackResult(event.onset_audio_s, event.audio_s, event.probability)
    )
    ends = [e for e in sink.events if isinstance(e, FirstCrackEndEvent)]
    settings = chain.runtime.current_settings()
    in_force = config.profile_in_force()
    return AnalysisResult(
        first_crack=first_crack,
        windows=sorted((t.audio_s, t.probability) for t in sink.telemetries),
        model=scorer.name,
        hop_s=settings.hop_s,
        duration_s=len(audio) / SAMPLE_RATE,
        window_s=config.detector.window_s,
        settings=settings,
        telemetry=sink.telemetries,
        first_crack_end=FirstCrackEndResult(ends[0].end_audio_s, ends[0].audio_s) if ends else None,
        cadence=config.detector.cadence,
        pop_onsets_s=chain.transients.onset_times(),
        detection_profile=None if in_force is None else in_force.describe(),
        scored=chain.scored_counts(),
        second_crack=None if sc is None else FirstCrackResult(sc.onset_audio_s, sc.audio_s,
                                                              sc.probability),
    )
