"""Second crack in the runtime, on scripted probabilities: when it is looked for, the event,
the payload keys, the corrections, and the ear gate's path into the roast."""

from __future__ import annotations

from typing import Any

import numpy as np

from firstcrack.agent.core.command_queue import RoastCommand, SecondCrackScore
from firstcrack.agent.core.payload_schema import problems
from firstcrack.agent.core.roast import Phase, Roast
from firstcrack.agent.core.runtime import Runtime
from firstcrack.agent.core.second_crack import SecondCrackSettings, SecondCrackWatch
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from tests.fakes import apply

FC = RuntimeSettings(threshold=0.5, rule="k_of_n", min_positive=3, confirm_s=10.0)
SC = SecondCrackSettings(threshold=0.5, rule="k_of_n", min_positive=3, confirm_s=10.0,
                         window_s=2.0, min_roast_s=480.0)


class Zero:
    name = "scripted"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.zeros(len(windows), np.float32)


def _runtime() -> tuple[Runtime, ListSink]:
    sink = ListSink()
    runtime = Runtime(Zero(), FC, [sink], window_s=2.0, clock=lambda: 1_000_000.0,
                      second_crack=SecondCrackWatch(SC))
    return runtime, sink


def _feed(runtime: Runtime, start: float, fc: list[float], sc: list[float]) -> None:
    for i, (p1, p2) in enumerate(zip(fc, sc, strict=True)):
        runtime.process_scored(start + i, p1, -20.0, 1.0, silent=False, second_crack=p2)


def _events(sink: ListSink, kind: str) -> list[Any]:
    return [e for e in sink.events if e.event_type == kind]


def test_second_crack_is_not_looked_for_before_first_crack() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 100.0, [0.0] * 10, [0.9] * 10)  # loud "second crack" at 100 s, no FC
    assert _events(sink, "second_crack") == []
    _feed(runtime, 200.0, [0.9] * 3 + [0.0] * 7, [0.0] * 10)  # first crack
    assert len(_events(sink, "first_crack")) == 1
    _feed(runtime, 300.0, [0.0] * 6, [0.1, 0.9, 0.9, 0.9, 0.9, 0.9])
    [event] = _events(sink, "second_crack")
    assert event.onset_audio_s == 300.0  # the first positive window's middle (301 - 2 / 2)
    assert event.audio_s == 303.0 and event.source == "agent"
    assert event.since_first_crack_s == round(300.0 - _events(sink, "first_crack")[0]
                                              .onset_audio_s, 1)
    assert runtime.roast.phase is Phase.SECOND_CRACK
    _feed(runtime, 400.0, [0.0] * 5, [0.9] * 5)
    assert len(_events(sink, "second_crack")) == 1  # once per roast


def test_without_first_crack_it_is_looked_for_after_the_minimum_roast_time() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 470.0, [0.0] * 8, [0.9] * 8)  # 470-477 s: before 480 s
    assert _events(sink, "second_crack") == []
    _feed(runtime, 480.0, [0.0] * 4, [0.9] * 4)
    assert len(_events(sink, "second_crack")) == 1
    assert _events(sink, "second_crack")[0].since_first_crack_s is None


def test_payloads_carry_the_declared_second_crack_keys() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 200.0, [0.9] * 3, [0.0] * 3)
    _feed(runtime, 300.0, [0.0] * 3, [0.9] * 3)
    state = sink.states[-1].to_payload()
    assert state["phase"] == "second_crack" and state["second_crack"] is True
    assert state["first_to_second_crack_s"] == round(
        _events(sink, "second_crack")[0].onset_audio_s
        - _events(sink, "first_crack")[0].onset_audio_s, 1)
    telemetry = sink.telemetries[-1].to_payload()
    assert telemetry["second_crack_probability"] == 0.9
    for topic, payload in (("state", state), ("telemetry", telemetry)):
        # a bare runtime lacks the agent's other providers: only their keys may be missing
        found = problems(topic, payload)  # type: ignore[arg-type]
        assert [p for p in found if not p.endswith(": missing")] == []


def test_a_new_roast_forgets_second_crack() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 200.0, [0.9] * 3, [0.0] * 3)
    _feed(runtime, 300.0, [0.0] * 3, [0.9] * 3)
    apply(runtime, RoastCommand("start"))
    assert runtime.roast.second_crack is None and runtime.second_crack_event is None
    assert sink.states[-1].to_payload()["second_crack"] is False


def test_the_user_can_mark_and_withdraw_second_crack() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 200.0, [0.9] * 3, [0.0] * 3)
    apply(runtime, RoastCommand("second_crack_now", origin="mqtt"))
    [event] = _events(sink, "second_crack")
    assert event.source == "user" and event.probability == 1.0
    apply(runtime, RoastCommand("second_crack_false_alarm", origin="mqtt"))
    [withdrawn] = _events(sink, "false_alarm")
    assert withdrawn.retracts == event.event_id
    assert runtime.roast.phase is Phase.FIRST_CRACK  # first crack stands
    assert [m.kind for m in runtime.corrections.marks] == [
        "second_crack", "second_crack_false_alarm"]


def test_the_ear_gates_path_reaches_the_roast_through_the_command_queue() -> None:
    runtime, sink = _runtime()
    _feed(runtime, 200.0, [0.9] * 3, [0.0] * 3)
    for i in range(4):  # scored by the ear on the capture thread
        runtime.submit(SecondCrackScore(300.0 + i, 0.9))
    runtime.apply_pending()
    assert len(_events(sink, "second_crack")) == 1
    assert sink.states[-1].to_payload()["phase"] == "second_crack"


def test_off_there_are_no_second_crack_keys() -> None:
    runtime = Runtime(Zero(), FC, [ListSink()], window_s=2.0)
    runtime.process_scored(10.0, 0.0, -20.0, 1.0, silent=False, second_crack=0.9)
    state = runtime.snapshot().to_payload()
    assert "second_crack" not in state and state["phase"] == "armed"


def test_the_roast_latches_second_crack_until_a_new_roast() -> None:
    roast = Roast()
    assert roast.second_crack_by_user(10.0) is not None
    assert roast.second_crack_by_user(20.0) is None  # once
    roast.drop(30.0)
    assert roast.phase is Phase.IDLE and roast.second_crack is not None
    roast.start(40.0)
    assert roast.second_crack is None


class HeadsScorer:
    """A model with a second-crack output: loud windows are crack, louder ones second crack
    (p by the window's mean level); declares its input as every loaded model does."""

    name = "heads"
    hears_second_crack = True

    def __init__(self) -> None:
        from firstcrack.models.inference.profile import DetectionProfile

        self.profile = DetectionProfile(0.5, "k_of_n", 3, 10.0, window_s=2.0, hop_s=1.0)
        self.second_crack_profile = DetectionProfile(0.5, "k_of_n", 3, 10.0, window_s=2.0,
                                                     hop_s=1.0)
        self.window_samples, self.sample_rate = 32000, 16000

    def predict_heads(self, windows: np.ndarray, streams: list[str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        level = np.abs(windows).mean(axis=1)
        return ((level > 0.05).astype(np.float32), (level > 0.2).astype(np.float32))

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return self.predict_heads(windows)[0]


def test_analyze_reports_second_crack_as_the_live_path_decides_it() -> None:
    from firstcrack.agent.config import AgentConfig
    from firstcrack.agent.offline.analyze import analyze_audio

    sr = 16000
    rng = np.random.default_rng(0)
    audio = (0.01 * rng.standard_normal(300 * sr)).astype(np.float32)
    audio[100 * sr:200 * sr] = 0.1  # "first crack"
    audio[240 * sr:300 * sr] = 0.4  # "second crack"
    config = AgentConfig().with_detector(second_crack="on", cadence="fixed")
    payload = analyze_audio(audio, HeadsScorer(), config).to_json_dict()
    assert payload["first_crack"] is not None
    second = payload["second_crack"]
    assert second is not None and 238.0 <= second["onset_s"] <= 242.0
    assert second["detected_at_s"] >= second["onset_s"]
    off = analyze_audio(audio, HeadsScorer(), AgentConfig().with_detector(cadence="fixed"))
    assert off.to_json_dict()["second_crack"] is None  # off by default


class Ast:
    """A first-crack-only AST: hears only "first crack" (the middle loudness)."""

    name = "ast"
    architecture = "ast"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        level = np.abs(windows).mean(axis=1)
        return ((level > 0.05) & (level < 0.2)).astype(np.float32)


def test_with_an_ast_the_ear_gate_hears_second_crack(monkeypatch: Any) -> None:
    """The AST hears no second crack; the ear in front of it does, and its scores reach the
    roast through the command queue (agent/live/chain.py, `second_crack_source`)."""
    import firstcrack.agent.live.chain as chain_module
    from firstcrack.agent.config import AgentConfig
    from firstcrack.agent.offline.analyze import analyze_audio

    ear = HeadsScorer()
    ear.architecture = "ear"  # type: ignore[attr-defined]
    monkeypatch.setattr(chain_module, "shipped_ear", lambda: ear)
    sr = 16000
    audio = (0.01 * np.random.default_rng(1).standard_normal(300 * sr)).astype(np.float32)
    audio[100 * sr:200 * sr] = 0.1
    audio[240 * sr:300 * sr] = 0.4
    config = AgentConfig().with_detector(second_crack="on", window_s=10.0)
    result = analyze_audio(audio, Ast(), config)
    assert result.first_crack is not None
    assert result.second_crack is not None and 238.0 <= result.second_crack.onset_s <= 242.0
