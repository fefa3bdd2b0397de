"""Offline analysis through the live path: windower -> runtime (classifier + detector).

`analyze_audio` pushes a recording through the same `Windower` and `Runtime`
that `firstcrack run` uses, in fixed-size chunks as a source would deliver
them, so `analyze` and `evaluate` measure the code that runs live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from agent.cadence import AdaptiveCadence, CadenceDriver
from agent.messages import Telemetry
from agent.runtime import Runtime, Scorer
from agent.settings import DetectorSettings
from agent.sinks import ListSink
from agent.transients import TransientCounter, attach
from agent.windower import Windower

SAMPLE_RATE = 16000
CHUNK_S = 0.1  # what a live source delivers per block


@dataclass(frozen=True)
class FirstCrackResult:
    """onset_s: back-dated onset; detected_at_s: end of the confirming window (both stream s)."""

    onset_s: float
    detected_at_s: float
    probability: float


@dataclass
class AnalysisResult:
    """Everything `analyze --json` writes (DESIGN.md section 3), plus the telemetry."""

    first_crack: FirstCrackResult | None
    windows: list[tuple[float, float]]
    model: str
    hop_s: float
    duration_s: float
    settings: DetectorSettings
    telemetry: list[Telemetry] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        fc = self.first_crack
        return {
            "first_crack": None if fc is None else asdict(fc),
            "windows": [{"end_s": end, "probability": p} for end, p in self.windows],
            "model": self.model,
            "hop_s": self.hop_s,
            "duration_s": self.duration_s,
            "threshold": self.settings.threshold,
            "min_positive": self.settings.min_positive,
            "confirm_s": self.settings.confirm_s,
        }


def analyze_audio(
    audio: np.ndarray,
    scorer: Scorer,
    settings: DetectorSettings,
    window_s: float = 10.0,
    progress: bool = False,
    sample_rate: int = SAMPLE_RATE,
    cadence: AdaptiveCadence | None = None,
    transients: TransientCounter | None = None,
) -> AnalysisResult:
    """Detect first crack in a whole mono recording at `sample_rate`, as the live agent would.

    `cadence` and `transients` are the live loop's adaptive cadence and pop
    counter (agent/cadence.py, agent/transients.py); with them the windows
    scored are the ones a live agent would score (with zero inference latency).
    """
    sink = ListSink()
    runtime = Runtime(scorer, settings, sinks=[sink], window_s=window_s, auto_arm=True)
    windower = Windower(sample_rate, window_s, settings.hop_s)
    driver = CadenceDriver(windower, cadence, transients)
    if transients is not None:
        attach(runtime, transients)
    chunk = max(1, int(CHUNK_S * sample_rate))
    # Progress in audio seconds: with adaptive cadence the number of windows is not known ahead.
    bar = tqdm(
        total=round(len(audio) / sample_rate),
        unit="s",
        desc="analyze",
        disable=not progress,
        leave=False,
    )
    with bar:
        for start in range(0, len(audio), chunk):
            block = audio[start : start + chunk]
            for window in driver.on_block(block, settings.hop_s):
                t = runtime.process(window.end_s, window.samples)
                done = runtime.first_crack_settled()
                driver.on_scored(t.audio_s, t.probability, t.threshold, t.positive_windows, done)
            bar.update(len(block) / sample_rate)
    event = runtime.event
    first_crack = (
        None
        if event is None
        else FirstCrackResult(event.onset_audio_s, event.audio_s, event.probability)
    )
    return AnalysisResult(
        first_crack=first_crack,
        windows=[(t.audio_s, t.probability) for t in sink.telemetries],
        model=scorer.name,
        hop_s=settings.hop_s,
        duration_s=len(audio) / sample_rate,
        settings=settings,
        telemetry=sink.telemetries,
    )
