"""What `analyze` tells a newcomer: a readable progress bar, and why a short file gives nothing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from firstcrack.agent.cli import main
from firstcrack.agent.config import AgentConfig
from firstcrack.agent.offline.analyze import analyze_audio, progress_bar


class ConstantScorer:
    name = "constant"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.full(len(windows), 0.1, np.float32)


def test_progress_shows_audio_seconds_rounded() -> None:
    """249 updates of 0.1 s sum to 24.900000000000084 in floating point; the bar says 24.9."""
    out = io.StringIO()
    bar = progress_bar(90.0, file=out)
    for _ in range(249):
        bar.update(0.1)
    assert bar.n != 24.9  # the float noise is still there underneath
    shown = str(bar)
    assert "24.9/90.0 s" in shown and "0000" not in shown, shown
    bar.close()


def test_analyze_draws_that_bar(capsys: pytest.CaptureFixture[str]) -> None:
    audio = (0.1 * np.random.default_rng(0).standard_normal(12 * 16000)).astype(np.float32)
    analyze_audio(audio, ConstantScorer(), AgentConfig(), progress=True)
    err = capsys.readouterr().err
    assert "/12.0 s" in err and "0000" not in err, err


def test_a_file_shorter_than_one_window_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 (a user error, like an unreadable file), before any model is loaded."""
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(round(4.2 * 44100), np.float32), 44100)
    code = main(["analyze", str(short), "--model", "/nonexistent/model"])
    captured = capsys.readouterr()
    assert code == 2
    assert (
        f"{short} is 4.2 s long, shorter than one 10 s window: nothing to analyze" in captured.err
    )
    assert "no first crack detected" not in captured.out
