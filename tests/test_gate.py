"""The ear gate: a cheap ear wakes the AST; the AST decides (agent/core/gate.py)."""

from __future__ import annotations

import numpy as np
import pytest

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.cadence import AdaptiveCadence, CadenceConfig
from firstcrack.agent.core.gate import EarGate
from firstcrack.agent.live import chain as chain_module
from firstcrack.agent.offline.analyze import analyze_audio
from firstcrack.models.inference.profile import DetectionProfile

SR = 16000


class LoudEar:
    """An ear that hears windows whose mean |x| passes 0.3 (p 1, else 0)."""

    name = "ear"
    architecture = "ear"
    profile = DetectionProfile(0.5, "evidence", 3, 20.0, window_s=2.0, hop_s=1.0)

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        self.calls += len(windows)
        return (np.abs(windows).mean(axis=1) > 0.3).astype(np.float32)


class DeafEar(LoudEar):
    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


class Ast:
    """An 'AST' whose p is 0.9 on windows holding the loud stretch, 0.1 elsewhere."""

    name = "ast"
    architecture = "ast"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.where(np.abs(windows).mean(axis=1) > 0.05, 0.9, 0.1).astype(np.float32)


def roast(seconds: int = 900, loud: tuple[int, int] = (600, 660)) -> np.ndarray:
    audio = np.random.default_rng(0).standard_normal(seconds * SR).astype(np.float32) * 0.01
    audio[loud[0] * SR:loud[1] * SR] = 0.5
    return audio


@pytest.fixture
def ear(monkeypatch: pytest.MonkeyPatch) -> LoudEar:
    found = LoudEar()
    monkeypatch.setattr(chain_module, "shipped_ear", lambda: found)
    return found


def test_gated_ast_decides_as_the_fixed_hop_with_far_fewer_windows(ear: LoudEar) -> None:
    audio = roast()
    gated = analyze_audio(audio, Ast(), AgentConfig())
    alone = analyze_audio(audio, Ast(), AgentConfig().with_detector(gate="off", cadence="fixed"))
    assert gated.first_crack == alone.first_crack and gated.first_crack is not None
    assert gated.scored["ear"] == ear.calls == 899  # every second, 2 s windows
    assert alone.scored["ast"] >= 8 * gated.scored["ast"]


def test_the_idle_check_hears_what_the_ear_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chain_module, "shipped_ear", lambda: DeafEar())
    config = AgentConfig().with_detector(gate_idle_s=30.0)
    result = analyze_audio(roast(), Ast(), config)
    assert result.first_crack is not None
    assert 600 <= result.first_crack.detected_at_s <= 660 + 30


def test_gate_only_for_an_ast_and_not_when_off(ear: LoudEar) -> None:
    assert chain_module.wants_gate(AgentConfig(), Ast())
    assert not chain_module.wants_gate(AgentConfig(), ear)
    assert not chain_module.wants_gate(AgentConfig().with_detector(gate="off"), Ast())

    class Fake:
        name = "fake"

    assert not chain_module.wants_gate(AgentConfig(), Fake())
    assert chain_module.build_chain(AgentConfig(), Ast()).driver.gate is not None
    assert chain_module.build_chain(AgentConfig(), Fake()).driver.gate is None


def test_env_turns_the_gate_off() -> None:
    from firstcrack.agent.config import load_config

    config = load_config(environ={"FIRSTCRACK_DETECTOR__GATE": "off"})
    assert config.detector.gate == "off"


def test_a_wake_makes_the_cadence_dense_for_hold_s() -> None:
    cadence = AdaptiveCadence(CadenceConfig(idle_hop_s=60.0, hold_s=30.0, pops_per_min=0.0))
    gate = EarGate(LoudEar(), 2.0, 1.0, 0.5, 60.0)
    gate.push(np.zeros(SR * 5, np.float32), cadence)
    assert not cadence.dense(5.0)
    gate.push(np.full(SR * 2, 0.5, np.float32), cadence)  # one positive 2 s window: no wake
    assert gate.wakes == 0 and not cadence.dense(7.0)
    gate.push(np.full(SR * 1, 0.5, np.float32), cadence)  # a second within 10 s wakes it
    assert gate.wakes == 1 and cadence.dense(8.0) and cadence.dense(38.0)
    assert not cadence.dense(39.0)
    assert gate.windows_scored == 7
    with pytest.raises(ValueError, match="idle_check_s"):
        EarGate(LoudEar(), 2.0, 1.0, 0.5, 61.0)
