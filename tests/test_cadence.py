"""Adaptive cadence: sparse while quiet, dense when p or the pop rate rises, never behind."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from firstcrack.agent.config import AgentConfig, ConfigError
from firstcrack.agent.core.cadence import AdaptiveCadence, CadenceConfig, CadenceDriver
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.core.windower import Windower
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.live.loop import LiveLoop
from firstcrack.agent.offline.analyze import analyze_audio
from tests.fakes import SlowScorer, loud

SR = 16000


def test_policy_from_scripted_probabilities() -> None:
    cad = AdaptiveCadence(CadenceConfig(idle_hop_s=15, hold_s=30))
    assert cad.hop_s(20.0, 3.0) == 15.0  # nothing yet: idle
    cad.observe_window(20.0, 0.1, threshold=0.6)
    assert cad.hop_s(21.0, 3.0) == 15.0
    cad.observe_window(35.0, 0.35, threshold=0.6)  # >= 0.5 x threshold: rising
    assert cad.hop_s(36.0, 3.0) == 3.0  # dense = the runtime's hop_s
    assert cad.hop_s(36.0, 2.0) == 2.0  # ... and follows /set hop_s
    cad.observe_window(38.0, 0.05, threshold=0.6)
    assert cad.hop_s(64.0, 3.0) == 3.0  # still inside hold_s
    assert cad.hop_s(66.0, 3.0) == 15.0  # back to sparse after hold_s
    cad.observe_window(70.0, 0.1, threshold=0.6, positive_windows=2)
    assert cad.hop_s(71.0, 3.0) == 3.0  # positives pending confirmation keep it dense
    cad.observe_window(80.0, 0.9, threshold=0.6, positive_windows=5, confirmed=True)
    assert cad.hop_s(81.0, 3.0) == 15.0  # first crack latched: nothing left to decide
    cad.reset()
    assert cad.hop_s(82.0, 3.0) == 15.0


def test_pop_rate_triggers_dense_cadence() -> None:
    cad = AdaptiveCadence(CadenceConfig(pops_per_min=90, hold_s=10))
    cad.observe_rate(100.0, 60.0)
    assert cad.hop_s(100.0, 3.0) == 15.0
    cad.observe_rate(101.0, 120.0)
    assert cad.hop_s(101.0, 3.0) == 3.0
    assert cad.hop_s(112.0, 3.0) == 15.0


def test_fixed_mode_is_the_plain_hop_and_dense_hop_overrides() -> None:
    assert AdaptiveCadence(CadenceConfig(mode="fixed")).hop_s(5.0, 3.0) == 3.0
    cad = AdaptiveCadence(CadenceConfig(dense_hop_s=2.0))
    cad.observe_window(10.0, 1.0, 0.6)
    assert cad.hop_s(11.0, 3.0) == 2.0


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"cadence": "sometimes"}, "detector.cadence"),
        ({"idle_hop_s": 0.1}, "detector.idle_hop_s"),
        ({"idle_hop_s": 121}, "detector.idle_hop_s"),
        ({"dense_hop_s": 30.0}, "detector.dense_hop_s"),  # more than idle_hop_s (15)
        ({"cadence_rise_fraction": 0.0}, "detector.cadence_rise_fraction"),
        ({"cadence_hold_s": float("nan")}, "detector.cadence_hold_s"),
        ({"cadence_pops_per_min": -1}, "detector.cadence_pops_per_min"),
    ],
)
def test_bad_cadence_is_a_config_error_naming_the_key(changes: dict, key: str) -> None:
    """Cadence limits live in the config (DetectorConfig), which names the key."""
    with pytest.raises(ConfigError) as info:
        AgentConfig().with_detector(**changes)
    assert info.value.keys == (key,)
    assert f"{key}: " in str(info.value)


def test_idle_hop_up_to_the_config_limit_runs() -> None:
    """`idle_hop_s: 90` used to pass the config and then fail in the cadence."""
    config = AgentConfig().with_detector(idle_hop_s=90)
    cad = AdaptiveCadence(config.detector.to_cadence())
    assert cad.hop_s(0.0, 3.0) == 90.0
    assert build_chain(config, SlowScorer()).runtime is not None


@pytest.mark.parametrize(
    "kw", [{"mode": "sometimes"}, {"idle_hop_s": 0.0}, {"dense_hop_s": float("nan")}]
)
def test_core_refuses_only_what_its_arithmetic_cannot_do(kw: dict) -> None:
    """Preconditions, not limits: no config-valid value reaches them (test_config.py)."""
    with pytest.raises(ValueError, match=next(iter(kw)).split("_")[0]):
        CadenceConfig(**kw)


def window_ends(probs_at: dict[float, float], seconds: int) -> list[float]:
    """Drive a windower through the cadence with p given per window end (stream s)."""
    cad = AdaptiveCadence(CadenceConfig(idle_hop_s=15, hold_s=20))
    driver = CadenceDriver(Windower(SR, 10.0, 3.0), cad, None)
    ends: list[float] = []
    block = np.zeros(SR // 10, np.float32)
    for _ in range(seconds * 10):
        for w in driver.on_block(block, 3.0):
            ends.append(w.end_s)
            p = max((v for t, v in probs_at.items() if w.end_s >= t), default=0.0)
            if w.end_s > 100:
                p = 0.0
            driver.on_scored(w.end_s, p, 0.6, 0, False)
    return ends


def test_driver_spaces_windows_sparse_dense_sparse() -> None:
    ends = window_ends({55.0: 0.5}, 200)
    gaps = np.diff(ends)
    assert ends[:4] == [10.0, 25.0, 40.0, 55.0]  # sparse early
    dense = [g for e, g in zip(ends[1:], gaps, strict=True) if 58 <= e <= 100]
    assert dense and all(g == 3.0 for g in dense)  # dense while rising
    assert all(g == 15.0 for e, g in zip(ends[1:], gaps, strict=True) if e > 140)  # sparse again


def test_going_dense_pulls_the_next_window_forward() -> None:
    """A trigger mid-way through an idle hop does not wait for the idle due end."""
    cad = AdaptiveCadence(CadenceConfig(idle_hop_s=15))
    driver = CadenceDriver(Windower(SR, 10.0, 3.0), cad, None)
    block = np.zeros(SR // 10, np.float32)
    ends = []
    for i in range(200):  # 20 s
        if i == 110:
            cad.observe_rate(11.0, 1000.0)
        ends += [w.end_s for w in driver.on_block(block, 3.0)]
    assert ends == [10.0, 13.0, 16.0, 19.0]


@pytest.mark.parametrize("p", [0.0, 0.9])
def test_adaptive_cadence_still_drops_stale_windows(p: float) -> None:
    """With the cadence on (idle p=0, or dense p=0.9), a held classifier makes the loop skip
    ahead: every window is scored or counted as dropped, and the last one scored is the
    newest the windower produced."""
    scorer = SlowScorer(p)
    sink = ListSink()
    config = AgentConfig().with_detector(idle_hop_s=6)
    chain = build_chain(config, scorer, sinks=[sink])
    runtime = chain.runtime
    audio = loud(SR * 91)
    chunks = [audio[i : i + SR] for i in range(0, len(audio), SR)]
    source_done = threading.Event()

    def source():
        yield from chunks
        source_done.set()

    produced: list[float] = []
    loop = LiveLoop(source(), chain)
    original = loop.slot.put
    loop.slot.put = lambda w: (produced.append(w.end_s), original(w))[1]  # type: ignore
    runner = threading.Thread(target=loop.run)
    runner.start()
    assert source_done.wait(10), "capture did not finish"
    for _ in range(60):
        scorer.gate.release()
    runner.join(10)
    assert not runner.is_alive()
    assert runtime.dropped_windows > 0
    scored = {t.audio_s for t in sink.telemetries} & set(produced)
    assert len(scored) + runtime.dropped_windows == len(produced)
    assert sink.telemetries[-1].audio_s == produced[-1]


def test_analyze_with_cadence_scores_fewer_windows() -> None:
    class Zero:
        name = "zero"

        def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
            return np.zeros(len(windows), np.float32)

    audio = loud(SR * 120, seed=1)
    fixed = analyze_audio(audio, Zero(), AgentConfig().with_detector(cadence="fixed"))
    adaptive = analyze_audio(audio, Zero(), AgentConfig())
    assert len(fixed.windows) == 37
    assert len(adaptive.windows) == 8  # 10, 25, ..., 115 s
