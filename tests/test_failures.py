"""No silent failures: a thread that dies ends `run` with exit 1 and says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.cli import main
from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.app import build_agents, run_agents
from firstcrack.agent.sources import CaptureError
from tests.fakes import loud


class Breaks:
    """Streams a few blocks, then the device driver fails in an unexpected way."""

    name = "breaks"
    realtime = False

    def __iter__(self) -> Iterator[np.ndarray]:
        for _ in range(5):
            yield loud(1600)
        raise RuntimeError("driver returned garbage")


class Quiet:
    name = "quiet"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


def test_a_crashed_capture_thread_is_raised_after_the_sinks_close(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"state_dir": str(tmp_path), "mqtt": {"enabled": False}})
    sink = ListSink()
    agents = build_agents(config, [Breaks()], Quiet(), extra_sinks=lambda _: [sink], mqtt=False)
    with pytest.raises(CaptureError, match="breaks: audio capture failed: driver returned"):
        run_agents(agents, install_signals=False)
    assert sink.states, "the last state is still announced on the way out"


def test_run_exits_1_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import firstcrack.agent.cli.options as options
    import firstcrack.agent.sources as sources

    monkeypatch.setattr(sources, "open_source", lambda *a, **k: Breaks())
    monkeypatch.setattr(options, "load_scorer", lambda config: Quiet())
    monkeypatch.setenv("FIRSTCRACK_STATE_DIR", str(tmp_path))
    code = main(["run", "--source", "mic", "--no-mqtt", "--quiet"])
    err: Any = capsys.readouterr().err
    assert code == 1
    assert "audio capture failed: driver returned garbage" in err
