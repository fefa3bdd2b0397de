"""One chain for every command: `run --source file:` and `analyze` agree window for window,
and the adaptive cadence's lookback gives the fixed hop's decisions with fewer inferences."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.cli import main
from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.offline.analyze import analyze_audio
from tests.fakes import loud

SR = 16000


@pytest.fixture(scope="module")
def roast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("chain") / "r.wav"
    assert main(["simulate", str(out), "--seed", "7", "--duration", "150"]) == 0
    return out


def test_run_from_file_and_analyze_score_the_same_windows_and_decide_the_same(
    roast: Path, tmp_path: Path
) -> None:
    """The same file and config through `run --source file:` and through `analyze`."""
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"state_dir: {tmp_path / 'state'}\nmodel: demo\nmqtt:\n  enabled: false\n"
        "detector:\n  cadence: adaptive\n  rule: evidence\n"
    )
    out = tmp_path / "a.json"
    assert main(["analyze", str(roast), "--config", str(config), "--json", str(out)]) == 0
    analyzed = json.loads(out.read_text())
    proc = subprocess.run(
        [sys.executable, "-m", "firstcrack.agent.cli", "run", "--config", str(config),
         "--source", f"file:{roast}", "--speed", "8"],  # the ear scores every 1 s: 8 a second
        capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    telemetry = [m for m in lines if m["type"] == "telemetry"]
    assert telemetry[-1]["dropped_windows"] == 0, "the live run fell behind; windows differ"
    live = sorted((m["audio_s"], round(m["probability"], 4)) for m in telemetry)
    offline = [(w["end_s"], round(w["probability"], 4)) for w in analyzed["windows"]]
    assert live == offline
    (event,) = [m for m in lines if m["type"] == "event" and m["event_type"] == "first_crack"]
    fc = analyzed["first_crack"]
    assert fc is not None
    assert event["onset_audio_s"] == pytest.approx(fc["onset_s"])
    assert event["audio_s"] == pytest.approx(fc["detected_at_s"])


class ByTime:
    """p from a function of the window's end time (found from a ramp written into the audio)."""

    name = "by-time"

    def __init__(self, p_at: dict[float, float]) -> None:
        self.p_at = p_at
        self.calls = 0

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        self.calls += len(windows)
        ends = [round(float(w[-1]) * 1000.0, 1) for w in windows]
        return np.array([self.p_at.get(end, 0.05) for end in ends], np.float32)


def stamped(seconds: int) -> np.ndarray:
    """Loud noise whose sample at each 0.1 s boundary - 1 encodes that time (for ByTime)."""
    audio = loud(SR * seconds, seed=3)
    for k in range(1, seconds * 10 + 1):
        audio[k * SR // 10 - 1] = k / 10 / 1000.0
    return audio


def test_lookback_decides_as_the_fixed_hop_does() -> None:
    """Positives in windows the idle hop skips: adaptive + lookback confirms with the same
    onset as a fixed 3 s hop, announces no later than the waking window, and scores fewer."""
    # Windows ending 181, 184, ... s are positive; the idle grid (10, 25, ... s) first sees
    # the crack at 190 s, after three positives it skipped.
    crack = {float(t): 0.9 for t in range(181, 260, 3)}
    audio = stamped(300)
    results = {}
    for cadence in ("fixed", "adaptive"):
        scorer = ByTime(crack)
        config = AgentConfig().with_detector(cadence=cadence, idle_hop_s=15.0)
        results[cadence] = (analyze_audio(audio, scorer, config), scorer.calls)
    (fixed, fixed_calls), (adaptive, adaptive_calls) = results["fixed"], results["adaptive"]
    assert fixed.first_crack is not None and adaptive.first_crack is not None
    assert adaptive.first_crack.onset_s == fixed.first_crack.onset_s
    assert fixed.first_crack.detected_at_s <= adaptive.first_crack.detected_at_s
    assert adaptive.first_crack.detected_at_s - fixed.first_crack.detected_at_s <= 15.0
    assert adaptive_calls < 0.6 * fixed_calls  # dense only from the wake to the end of cracking


def test_without_lookback_the_idle_hop_costs_the_onset() -> None:
    """The same stream with lookback off: the onset comes later (this is what lookback fixes)."""
    crack = {float(t): 0.9 for t in range(181, 260, 3)}
    audio = stamped(300)
    on = analyze_audio(audio, ByTime(crack), AgentConfig())
    chain = build_chain(AgentConfig(), ByTime(crack), sinks=[ListSink()])
    assert chain.cadence is not None
    chain.cadence.config = replace(chain.cadence.config, lookback=False)
    for start in range(0, len(audio), SR // 10):
        chain.feed(audio[start : start + SR // 10])
    event = chain.runtime.event
    assert on.first_crack is not None and event is not None
    assert on.first_crack.onset_s == 176.0
    assert event.onset_audio_s == 185.0
