"""The user's corrections: `first_crack_now` and `false_alarm` (docs/RECORDINGS.md).

The user outranks the model: "I hear it now" confirms first crack when the
agent has not, and "false alarm" withdraws the agent's event so it listens
again. Every correction is also a mark of the roast for the recorder.
"""

from __future__ import annotations

import numpy as np
import pytest

from firstcrack.agent.core.command_queue import RoastCommand, SetSetting
from firstcrack.agent.core.messages import FalseAlarmEvent
from firstcrack.agent.core.runtime import Runtime
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.mqtt.validation import CommandError, parse_roast_command
from tests.fakes import apply, loud, score_window

SR = 16000
KOFN = RuntimeSettings(rule="k_of_n", min_positive=3, confirm_s=20.0)


class ConstantScorer:
    name = "constant"

    def __init__(self, p: float) -> None:
        self.p = p

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        return np.full(len(windows), self.p, np.float32)


def _runtime(p: float = 0.0) -> tuple[Runtime, ListSink, ConstantScorer]:
    sink = ListSink()
    scorer = ConstantScorer(p)
    return Runtime(scorer, KOFN, sinks=[sink], clock=lambda: 1_000_000.0), sink, scorer


def _windows(runtime: Runtime, start_s: float, count: int) -> float:
    window = loud(SR * 10)
    for i in range(count):
        score_window(runtime, start_s + 3.0 * i, window)
    return start_s + 3.0 * (count - 1)


def test_first_crack_now_before_the_agent_confirms_and_is_the_roasts_one_event() -> None:
    runtime, sink, scorer = _runtime(p=0.1)
    end = _windows(runtime, 10.0, 10)
    apply(runtime, RoastCommand("first_crack_now", "mqtt"))

    assert [e.source for e in sink.events] == ["user"]
    event = sink.events[0]
    assert event.event_type == "first_crack"
    assert event.onset_audio_s == event.audio_s == end  # onset: the moment the user spoke
    state = sink.states[-1]
    assert state.phase == "first_crack" and state.first_crack
    assert state.extra["user_label"] is True
    assert state.extra["user_first_crack_ts"] == state.first_crack_ts
    # the model agreeing later does not send a second event
    scorer.p = 0.95
    _windows(runtime, end + 3.0, 10)
    assert len(sink.events) == 1
    assert runtime.event is event


def test_first_crack_now_after_the_agent_confirmed_is_only_a_label() -> None:
    runtime, sink, _ = _runtime(p=0.95)
    end = _windows(runtime, 10.0, 5)
    assert [e.source for e in sink.events] == ["agent"]
    apply(runtime, RoastCommand("first_crack_now", "artisan"))

    assert len(sink.events) == 1
    marks = runtime.roast_view().marks
    assert [(m.kind, m.audio_s, m.origin) for m in marks] == [("first_crack", end, "artisan")]
    assert sink.states[-1].extra["user_label"] is True


def test_false_alarm_withdraws_the_event_and_the_detector_listens_again() -> None:
    runtime, sink, scorer = _runtime(p=0.95)
    end = _windows(runtime, 10.0, 3)
    first = sink.events[0]
    scorer.p = 0.0
    end = _windows(runtime, end + 3.0, 2)
    apply(runtime, RoastCommand("false_alarm", "mqtt"))

    withdrawn = sink.events[1]
    assert isinstance(withdrawn, FalseAlarmEvent)
    assert withdrawn.to_payload()["event_type"] == "false_alarm"
    assert withdrawn.retracts == first.event_id
    assert withdrawn.audio_s == end and withdrawn.onset_audio_s == first.onset_audio_s
    state = sink.states[-1]
    assert state.phase == "armed" and not state.first_crack and state.development_s is None
    assert state.extra["user_label"] is True and state.extra["user_first_crack_ts"] is None
    # real first crack later: a new event, with its own id
    scorer.p = 0.95
    _windows(runtime, end + 3.0, 3)
    assert len(sink.events) == 3
    assert sink.events[2].event_type == "first_crack"
    assert sink.events[2].event_id not in (first.event_id, withdrawn.event_id)


def test_false_alarm_with_nothing_confirmed_is_a_label_and_sends_nothing() -> None:
    runtime, sink, _ = _runtime(p=0.1)
    _windows(runtime, 10.0, 3)
    apply(runtime, RoastCommand("false_alarm", "mqtt"))
    assert sink.events == []
    assert [m.kind for m in runtime.roast_view().marks] == ["false_alarm"]
    assert runtime.snapshot().phase == "armed"


def test_marks_belong_to_one_roast_kept_after_drop_cleared_by_a_new_roast() -> None:
    runtime, sink, _ = _runtime(p=0.1)
    end = _windows(runtime, 10.0, 3)
    apply(runtime, RoastCommand("first_crack_now"))
    apply(runtime, RoastCommand("drop"))
    apply(runtime, RoastCommand("false_alarm"))  # pressed just after DROP: still this roast
    view = runtime.roast_view()
    assert [m.kind for m in view.marks] == ["first_crack", "false_alarm"]
    assert view.roast_start_s == 0.0 and view.roast_end_s == end
    assert sink.events[-1].event_type == "false_alarm"

    apply(runtime, RoastCommand("start"))
    assert runtime.roast_view().marks == ()
    assert runtime.snapshot().extra["user_label"] is False


def test_first_crack_now_without_a_running_roast_confirms_nothing() -> None:
    runtime, sink, _ = _runtime(p=0.1)
    _windows(runtime, 10.0, 2)
    apply(runtime, RoastCommand("drop"))
    apply(runtime, RoastCommand("first_crack_now"))
    assert sink.events == []
    assert runtime.snapshot().phase == "idle"


def test_first_crack_now_counts_even_when_disarmed() -> None:
    """`armed OFF` stops the model's positives from counting, not the user."""
    runtime, sink, _ = _runtime(p=0.95)
    apply(runtime, SetSetting("armed", False))
    _windows(runtime, 10.0, 5)
    assert sink.events == []
    apply(runtime, RoastCommand("first_crack_now"))
    assert [e.source for e in sink.events] == ["user"]


def test_roast_view_carries_settings_and_the_wall_clock() -> None:
    runtime, _, _ = _runtime()
    apply(runtime, SetSetting("recording", True))
    end = _windows(runtime, 10.0, 2)
    view = runtime.roast_view()
    assert view.settings.recording is True
    assert view.stream_s == end
    assert view.wall(end) == 1_000_000.0 and view.wall(end - 5.0) == 999_995.0


@pytest.mark.parametrize("payload", [b"first_crack_now", b"FALSE_ALARM\n", b"start"])
def test_roast_set_accepts_the_corrections(payload: bytes) -> None:
    assert parse_roast_command(payload).action == payload.decode().strip().lower()


def test_roast_set_names_the_corrections_when_it_rejects() -> None:
    with pytest.raises(CommandError, match="first_crack_now, false_alarm"):
        parse_roast_command(b"crack")
