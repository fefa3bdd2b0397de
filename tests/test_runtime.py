"""The runtime turns scored windows into telemetry, one event and state snapshots."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pytest

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.command_queue import RoastCommand, SetSetting
from firstcrack.agent.core.messages import FirstCrackEvent, RoastState, Telemetry
from firstcrack.agent.core.runtime import Runtime
from firstcrack.agent.core.scoring import dbfs
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.live.loop import LatestSlot, LiveLoop
from tests.fakes import Provided, SlowScorer, apply, loud, score_window

# These tests count windows the k-of-n way (the published 5 in 20 s).
KOFN = RuntimeSettings(rule="k_of_n", min_positive=5, confirm_s=20.0)

SR = 16000


class ScriptedScorer:
    """Returns probabilities from a script, one per call."""

    name = "scripted"

    def __init__(self, probs: list[float]) -> None:
        self.probs = list(probs)
        self.calls = 0

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        self.calls += 1
        return np.array([self.probs.pop(0) if self.probs else 0.0] * len(windows), np.float32)


class MemoryStore:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    def save(self, values: dict[str, Any]) -> None:
        self.saved.append(dict(values))


def drive(runtime: Runtime, count: int, start: float = 10.0, samples: np.ndarray | None = None):
    window = loud(SR * 10) if samples is None else samples
    return [score_window(runtime, start + 3.0 * i, window) for i in range(count)]


def test_payload_field_names_are_the_contract() -> None:
    """README, "MQTT" names these fields; consumers depend on them."""
    assert {"ts", "roast_s", "probability", "threshold", "dbfs", "inference_ms", "phase"} <= {
        f.name for f in fields(Telemetry)
    }
    assert {
        "event_type",
        "event_id",
        "ts",
        "onset_ts",
        "roast_s",
        "probability",
        "positive_windows",
        "model",
    } <= {f.name for f in fields(FirstCrackEvent)}
    state = RoastState("armed", False, None, None, None, 1.0, {"threshold": 0.6}).to_payload()
    assert {
        "phase",
        "first_crack",
        "first_crack_ts",
        "roast_started_ts",
        "development_s",
        "threshold",
    } <= set(state)


def test_one_event_per_roast_with_backdated_onset() -> None:
    sink = ListSink()
    runtime = Runtime(ScriptedScorer([0.1] * 5 + [0.9] * 12), KOFN, [sink])
    drive(runtime, 17)
    assert len(sink.events) == 1
    event = sink.events[0].to_payload()
    assert event["event_type"] == "first_crack"
    assert event["audio_s"] == 10.0 + 3 * 9  # fifth positive
    assert event["onset_audio_s"] == 10.0 + 3 * 5 - 5.0
    assert event["model"] == "scripted"
    assert [s.phase for s in sink.states][0] == "first_crack"
    assert sink.states[-1].development_s is not None


def test_silence_gate_skips_the_classifier() -> None:
    scorer = ScriptedScorer([0.99] * 10)
    runtime = Runtime(scorer, RuntimeSettings(), [])
    telemetry = drive(runtime, 6, samples=np.zeros(SR * 10, np.float32))
    assert scorer.calls == 0
    assert all(t.silent and t.probability == 0.0 for t in telemetry)
    assert dbfs(np.zeros(10, np.float32)) == -160.0
    assert dbfs(np.ones(10, np.float32)) == pytest.approx(0.0)


def test_settings_apply_to_next_window_persist_and_publish_state() -> None:
    sink, store = ListSink(), MemoryStore()
    runtime = Runtime(ScriptedScorer([0.5] * 20), KOFN, [sink], persistence=store)
    assert drive(runtime, 2)[-1].threshold == 0.6
    apply(runtime, SetSetting("threshold", 0.4))
    assert drive(runtime, 1, start=20.0)[0].threshold == 0.4
    assert store.saved[-1]["threshold"] == 0.4
    assert sink.states[-1].settings["threshold"] == 0.4


def test_roast_commands_drive_the_lifecycle() -> None:
    sink = ListSink()
    runtime = Runtime(ScriptedScorer([0.9] * 40), KOFN, [sink])
    drive(runtime, 6)
    assert runtime.snapshot().phase == "first_crack"
    apply(runtime, RoastCommand("drop"))
    frozen = runtime.snapshot()
    assert frozen.phase == "idle" and frozen.first_crack and frozen.development_s is not None
    drive(runtime, 3, start=40.0)
    assert runtime.snapshot().development_s == frozen.development_s
    apply(runtime, RoastCommand("start"))
    started = runtime.snapshot()
    assert started.phase == "armed" and not started.first_crack and started.roast_s == 0.0
    drive(runtime, 6, start=50.0)
    assert len(sink.events) == 2
    apply(runtime, SetSetting("armed", False))
    apply(runtime, RoastCommand("reset"))
    assert runtime.snapshot().phase == "armed"  # auto_arm re-arms a reset agent


def test_latest_slot_keeps_newest_and_counts_replaced() -> None:
    from firstcrack.agent.core.windower import Window

    slot = LatestSlot()
    for i in range(4):
        slot.put(Window(i, np.zeros(1, np.float32), SR))
    window, dropped, finished = slot.take()
    assert window is not None and window.end_sample == 3 and dropped == 3 and not finished
    slot.close()
    assert slot.take()[2] is True


def test_slow_inference_drops_stale_windows_and_stays_current() -> None:
    """The source delivers 60 s at once while the classifier is held: the loop skips ahead.

    Every window is either scored or counted as dropped, and the last window
    scored is the newest one, so the agent is current when it catches up.
    """
    import threading

    scorer = SlowScorer()
    sink = ListSink()
    config = AgentConfig().with_detector(cadence="fixed", rule="k_of_n")
    chain = build_chain(config, scorer, sinks=[sink])
    runtime = chain.runtime
    audio = loud(SR * 61)
    chunks = [audio[i : i + SR] for i in range(0, len(audio), SR)]
    source_done = threading.Event()

    def source():
        yield from chunks
        source_done.set()

    loop = LiveLoop(source(), chain)
    runner = threading.Thread(target=loop.run)
    runner.start()
    assert source_done.wait(10), "capture did not finish"
    for _ in range(40):  # release the classifier until the loop ends
        scorer.gate.release()
    runner.join(10)
    assert not runner.is_alive()
    total_windows = (61 - 10) // 3 + 1
    assert runtime.dropped_windows > 0
    assert scorer.calls + runtime.dropped_windows == total_windows
    assert sink.telemetries[-1].audio_s == 10.0 + 3 * (total_windows - 1)
    assert sink.telemetries[-1].dropped_windows == runtime.dropped_windows


def test_source_health_is_in_state_and_a_change_republishes_it() -> None:
    sink = ListSink()
    runtime = Runtime(ScriptedScorer([0.1] * 40), KOFN, [sink])
    counters = {"source_overruns": 0, "source_dropped_blocks": 0, "source_reopens": 0}
    runtime.add_provider(Provided("source", counters))
    assert runtime.snapshot().to_payload()["source_overruns"] == 0
    drive(runtime, 6)  # 10..25 s: nothing changes, no state
    assert sink.states == []
    counters["source_overruns"] = 3
    drive(runtime, 2, start=28.0)  # 28, 31 s: more than 10 s since the last state
    assert [s.to_payload()["source_overruns"] for s in sink.states] == [3]
    drive(runtime, 3, start=34.0)  # unchanged again: no new state
    assert len(sink.states) == 1


def test_agent_state_carries_the_source_statistics(tmp_path: Any) -> None:
    from firstcrack.agent.live.app import Agent, AgentParts
    from firstcrack.agent.sources.base import SourceStats

    class CountingSource:
        name = "counting"
        realtime = False

        def __iter__(self) -> Any:
            return iter(())

        def stats(self) -> SourceStats:
            return SourceStats(overruns=2, reopens=1, dropped_blocks=5)

    config = AgentConfig.model_validate({"state_dir": str(tmp_path), "mqtt": {"enabled": False}})
    agent = Agent(AgentParts(config, CountingSource(), ScriptedScorer([]), []), mqtt=False)
    payload = agent.runtime.snapshot().to_payload()
    assert (payload["source_overruns"], payload["source_reopens"]) == (2, 1)
    assert payload["source_dropped_blocks"] == 5


def test_persisted_settings_are_restored_through_the_queue_and_stale_ones_dropped(
    tmp_path: Any,
) -> None:
    from firstcrack.agent.live.app import Agent, AgentParts
    from firstcrack.agent.live.persist import SettingsStore

    SettingsStore(tmp_path / "roaster1").save(
        {"threshold": 0.42, "confirm_s": 0.5, "armed": False}  # confirm_s 0.5: below 1 s
    )
    config = AgentConfig.model_validate({"state_dir": str(tmp_path), "mqtt": {"enabled": False}})
    sink = ListSink()
    agent = Agent(AgentParts(config, iter(()), ScriptedScorer([]), [sink]), mqtt=False)
    assert agent.runtime.current_settings().threshold == config.detector.threshold  # queued
    agent.start_sinks()
    settings = agent.runtime.current_settings()
    assert (settings.threshold, settings.armed) == (0.42, False)
    assert settings.confirm_s == config.detector.confirm_s
    assert sink.states[-1].settings["threshold"] == 0.42
