"""First-crack end: decided after a quiet period, once per roast, back-dated like the onset.

Rules protected: gaps shorter than the quiet period do not end cracking; the end fires
exactly once per confirmation; it is reported to sinks as a `first_crack_end` event
and in state; `development_ratio` is development_s / roast_s from CHARGE.
"""

from __future__ import annotations

import pytest

from firstcrack.agent.core.command_queue import RoastCommand
from firstcrack.agent.core.crack_end import CrackEndTracker, FirstCrackEndEvent
from firstcrack.agent.core.roast import Confirmation
from firstcrack.agent.core.runtime import Runtime
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from tests.fakes import apply

HOP = 3.0
FC = Confirmation(detected_s=100.0, onset_s=83.0, probability=0.9, positive_windows=5)


class NullScorer:
    name = "null"


def feed(tracker: CrackEndTracker, probs: list[float], start: float = 103.0, **kw: object):
    """Windows every HOP s from `start`; returns [(end_s, result)] for windows that decided."""
    decided = []
    for i, p in enumerate(probs):
        end_s = start + HOP * i
        result = tracker.update(end_s, p, 0.6, FC, **kw)  # type: ignore[arg-type]
        if result is not None:
            decided.append((end_s, result))
    return decided


def test_end_after_quiet_period_backdated_half_a_window() -> None:
    tracker = CrackEndTracker(quiet_s=30.0, window_s=10.0)
    # active until 103 + 3*9 = 130, then quiet; decided at the first end >= 160.
    decided = feed(tracker, [0.9] * 10 + [0.1] * 15)
    assert len(decided) == 1
    end_s, result = decided[0]
    assert result.last_active_s == pytest.approx(130.0)
    assert end_s == result.detected_s == pytest.approx(160.0)
    assert result.end_s == pytest.approx(125.0)
    assert tracker.result(FC) == result


def test_gaps_shorter_than_quiet_do_not_end_cracking() -> None:
    tracker = CrackEndTracker(quiet_s=30.0, window_s=10.0)
    bursts = ([0.9] * 3 + [0.2] * 9) * 4  # 27 s gaps between bursts
    assert feed(tracker, bursts[:-9]) == []  # ends on a burst: still cracking
    assert tracker.result(FC) is None


def test_fires_once_and_resets_for_a_new_confirmation() -> None:
    tracker = CrackEndTracker(quiet_s=15.0, window_s=10.0)
    assert len(feed(tracker, [0.9] * 3 + [0.0] * 20)) == 1
    assert feed(tracker, [0.9] * 3 + [0.0] * 20, start=200.0) == []  # same roast: never again
    second = Confirmation(500.0, 480.0, 0.8, 5)
    assert tracker.result(second) is None
    results = [tracker.update(500.0 + HOP * i, 0.0, 0.6, second) for i in range(8)]
    assert sum(r is not None for r in results) == 1
    assert tracker.result(FC) is None  # the old roast's end is not reported for the new one


def test_no_end_before_first_crack_or_after_drop() -> None:
    tracker = CrackEndTracker(quiet_s=6.0)
    assert all(tracker.update(10.0 + i, 0.0, 0.6, None) is None for i in range(50))
    assert feed(tracker, [0.0] * 20, watching=False) == []


def test_end_never_before_onset() -> None:
    early = Confirmation(detected_s=100.0, onset_s=98.0, probability=0.9, positive_windows=5)
    tracker = CrackEndTracker(quiet_s=9.0, window_s=10.0)
    results = [tracker.update(100.0 + HOP * i, 0.0, 0.6, early) for i in range(1, 6)]
    decided = [r for r in results if r is not None]
    assert len(decided) == 1 and decided[0].end_s == pytest.approx(98.0)


def test_pops_per_minute_counts_as_cracking_only_when_configured() -> None:
    quiet_probs = [0.1] * 15
    with_pops = CrackEndTracker(quiet_s=30.0, active_pops_per_min=20.0)
    assert feed(with_pops, quiet_probs, pops_per_min=25.0) == []
    assert len(feed(with_pops, quiet_probs, start=150.0, pops_per_min=5.0)) == 1
    ignoring = CrackEndTracker(quiet_s=30.0)
    assert len(feed(ignoring, quiet_probs, pops_per_min=25.0)) == 1


def test_rejects_a_non_positive_quiet_period() -> None:
    with pytest.raises(ValueError, match="quiet_s"):
        CrackEndTracker(quiet_s=0.0)


PUBLISHED = RuntimeSettings(rule="k_of_n", min_positive=5, confirm_s=20.0)
"""The scripted probabilities in these tests confirm the published 5 in 20 s way."""


def _runtime(sink: ListSink, quiet_s: float = 30.0) -> Runtime:
    return Runtime(NullScorer(), PUBLISHED, [sink], auto_arm=False,  # type: ignore[arg-type]
                   crack_end=CrackEndTracker(quiet_s, 10.0))


def _windows(runtime: Runtime, probs: list[float], start: float) -> None:
    for i, p in enumerate(probs):
        runtime.process_scored(start + HOP * i, p, -20.0, 1.0, silent=False)


def test_runtime_publishes_one_end_event_and_state_with_ratio() -> None:
    sink = ListSink()
    runtime = _runtime(sink)
    runtime.advance(100.0)
    apply(runtime, RoastCommand("start"))  # CHARGE at stream 100 s
    _windows(runtime, [0.1] * 100 + [0.9] * 20 + [0.1] * 30, start=103.0)
    types = [e.event_type for e in sink.events]
    assert types == ["first_crack", "first_crack_end"]
    fc, end = sink.events
    assert isinstance(end, FirstCrackEndEvent)
    # positives at 403..460 s stream; last active 460 -> end 455 s stream = 355 s roast.
    assert end.end_roast_s == pytest.approx(355.0)
    assert end.onset_roast_s == fc.onset_roast_s
    assert end.first_crack_s == pytest.approx(end.end_roast_s - fc.onset_roast_s)
    assert end.to_payload()["event_type"] == "first_crack_end"
    state = runtime.snapshot().to_payload()
    assert state["first_crack_end_roast_s"] == pytest.approx(355.0)
    assert state["first_crack_end_ts"] is not None
    assert state["development_ratio"] == pytest.approx(
        state["development_s"] / state["roast_s"], abs=1e-3
    )
    last = sink.telemetries[-1].to_payload()
    assert last["development_ratio"] == pytest.approx(state["development_ratio"], abs=1e-3)
    # the state that announced the end carries it
    assert any(s.extra.get("first_crack_end_roast_s") is not None for s in sink.states)


def test_runtime_without_tracker_publishes_no_end_and_start_clears_it() -> None:
    sink = ListSink()
    runtime = Runtime(NullScorer(), PUBLISHED, [sink])  # type: ignore[arg-type]
    _windows(runtime, [0.9] * 10 + [0.0] * 30, start=10.0)
    assert [e.event_type for e in sink.events] == ["first_crack"]
    assert runtime.snapshot().extra["first_crack_end_ts"] is None

    sink2 = ListSink()
    tracked = _runtime(sink2, quiet_s=10.0)
    apply(tracked, RoastCommand("start"))
    _windows(tracked, [0.9] * 10 + [0.0] * 10, start=10.0)
    assert tracked.snapshot().extra["first_crack_end_roast_s"] is not None
    apply(tracked, RoastCommand("start"))
    extra = tracked.snapshot().extra
    assert extra["first_crack_end_roast_s"] is None and extra["development_ratio"] is None
