"""Assembly in one place: the live agent's sinks in their stated order, the chain's
check that the model hears the windows it is given, and logging set up once."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firstcrack.agent.artisan.bridge import ArtisanBridge
from firstcrack.agent.config import AgentConfig, ConfigError
from firstcrack.agent.core.sinks import JsonLinesSink
from firstcrack.agent.dashboard.hub import Hub
from firstcrack.agent.dashboard.roaster_view import RoasterView
from firstcrack.agent.live.app import Agent, AgentParts, ordered_sinks
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.mqtt import MqttSink
from firstcrack.agent.recording import Recorder
from firstcrack.models.contracts import SAMPLE_RATE

ROOT = Path(__file__).resolve().parent.parent


class Model:
    """A scorer that declares its input, as every loaded model does."""

    name = "declared"

    def __init__(self, window_s: float = 10.0, sample_rate: int = SAMPLE_RATE) -> None:
        self.window_samples = int(window_s * SAMPLE_RATE)
        self.sample_rate = sample_rate

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


class NoSource:
    name = "none"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ordered_sinks_put_artisan_mqtt_outputs_dashboard_then_the_recorder() -> None:
    a, m, j1, j2, d, r = (object() for _ in range(6))
    assert ordered_sinks(a, m, [j1, j2], d, r) == [a, m, j1, j2, d, r]  # type: ignore[arg-type]
    assert ordered_sinks(None, None, [j1], None, r) == [j1, r]  # type: ignore[arg-type]


def test_the_agent_wires_every_sink_in_that_order(tmp_path: Path) -> None:
    """Nothing connects: a sink starts only with the agent."""
    config = AgentConfig.model_validate({
        "state_dir": str(tmp_path),
        "mqtt": {"host": "127.0.0.1", "port": _free_port()},
        "artisan": {"enabled": True, "host": "127.0.0.1", "port": _free_port()},
    })
    out = JsonLinesSink()
    agent = Agent(AgentParts(config, NoSource(), Model(), [out]), dashboard=Hub())
    kinds = [type(s) for s in agent.runtime.sinks]
    assert kinds == [ArtisanBridge, MqttSink, JsonLinesSink, RoasterView, Recorder]
    assert agent.runtime.sinks[2] is out
    without = Agent(AgentParts(config, NoSource(), Model(), [out]), mqtt=False)
    assert [type(s) for s in without.runtime.sinks] == [ArtisanBridge, JsonLinesSink, Recorder]


def test_the_chain_refuses_a_window_the_model_was_not_built_for(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"state_dir": str(tmp_path),
                                         "detector": {"window_s": 10.0}})
    build_chain(config, Model(10.0))  # fits
    with pytest.raises(ConfigError, match=r"detector.window_s: 10 s windows .* takes 5 s") as info:
        build_chain(config, Model(5.0))
    assert info.value.keys == ("detector.window_s",)
    with pytest.raises(ConfigError, match="wants 8000 Hz"):
        build_chain(config, Model(10.0, sample_rate=8000))


def test_the_shipped_ear_sets_its_own_window_and_refuses_another(tmp_path: Path) -> None:
    from firstcrack.models.inference.classifier import load_classifier

    ear = load_classifier("demo")
    config = AgentConfig.model_validate({"state_dir": str(tmp_path)})
    chain = build_chain(config, ear)  # its profile sets detector.window_s
    assert chain.windower.window_samples == ear.window_samples
    with pytest.raises(ConfigError, match="detector.window_s"):
        build_chain(config.with_detector(window_s=10.0), ear)


def test_library_info_lines_stay_off_the_terminal_and_ours_do_not() -> None:
    code = (
        "import logging\n"
        "from firstcrack.agent.cli.logs import configure_logging\n"
        "configure_logging()\n"
        "logging.info('Quantization parameters for tensor x not specified')\n"
        "logging.getLogger('onnxruntime').warning('a library warning')\n"
        "logging.getLogger('firstcrack.bench').info('our own line')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert "Quantization parameters" not in done.stderr
    assert "a library warning" in done.stderr and "our own line" in done.stderr
