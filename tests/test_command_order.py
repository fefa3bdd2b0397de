"""One owner of the roast state: commands from many threads, states published in order.

Windows stream through a real `LiveLoop` and inference worker while three
threads submit commands at once (as paho's network thread, a controller and
Artisan would). Each commanding thread moves one setting in one direction
only, so a state older than one already published would show a setting
going backwards.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from firstcrack.agent.config import AgentConfig
from firstcrack.agent.core.command_queue import RoastCommand, SetSetting
from firstcrack.agent.core.messages import RoastState
from firstcrack.agent.core.settings import RuntimeSettings
from firstcrack.agent.core.sinks import ListSink
from firstcrack.agent.live.chain import build_chain
from firstcrack.agent.live.loop import LiveLoop
from tests.fakes import loud

SR = 16000
BLOCK = SR // 10


class QuickScorer:
    name = "quick"

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        time.sleep(0.001)
        return np.full(len(windows), 0.2, np.float32)


class RecordingSink(ListSink):
    """Records each state and the thread that delivered it; yields the GIL to widen races."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def state(self, s: RoastState) -> None:
        time.sleep(0)
        with self._lock:
            self.threads.add(threading.get_ident())
            self.states.append(s)

    def publish_settings(self, s: RuntimeSettings) -> None:
        with self._lock:
            self.threads.add(threading.get_ident())


class Blocks:
    """A source of loud 0.1 s blocks until `stop` is set (then it ends)."""

    name = "blocks"
    realtime = False

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.noise = loud(BLOCK)

    def __iter__(self) -> Iterator[np.ndarray]:
        while not self.stop.is_set():
            time.sleep(0.0005)
            yield self.noise


def test_states_reach_sinks_in_order_while_threads_command_at_once() -> None:
    config = AgentConfig.model_validate({"mqtt": {"enabled": False},
                                         "detector": {"cadence": "fixed", "hop_s": 0.5}})
    sink = RecordingSink()
    chain = build_chain(config, QuickScorer(), sinks=[sink])
    stop = threading.Event()
    loop = LiveLoop(Blocks(stop), chain)
    runtime = chain.runtime
    thresholds = [round(0.60 + 0.004 * i, 3) for i in range(100)]  # from the default up
    positives = list(range(6, 101))  # from the default 6 up

    def set_all(name: str, values: list[float] | list[int]) -> None:
        for value in values:
            runtime.commands.submit(SetSetting(name, value, origin=f"thread-{name}"))
            time.sleep(0.0002)

    def roast_commands() -> None:
        for i in range(60):
            runtime.commands.submit(RoastCommand("start" if i % 2 == 0 else "drop", "ctl"))
            time.sleep(0.0003)

    commanders = [
        threading.Thread(target=set_all, args=("threshold", thresholds)),
        threading.Thread(target=set_all, args=("min_positive", positives)),
        threading.Thread(target=roast_commands),
    ]
    worker = threading.Thread(target=loop.run)
    worker.start()
    for t in commanders:
        t.start()
    for t in commanders:
        t.join()
    time.sleep(0.5)  # the worker drains the rest on its next turns
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()

    assert loop.windows_processed > 0, "windows must have been scored during the commands"
    assert len(sink.threads) == 1, "every announcement must come from the scoring thread"
    states = sink.states
    assert len(states) >= len(thresholds) + len(positives) + 60
    seen_t = [s.settings["threshold"] for s in states]
    seen_k = [s.settings["min_positive"] for s in states]
    assert seen_t == sorted(seen_t), "a threshold went backwards: an older state came later"
    assert seen_k == sorted(seen_k), "min_positive went backwards: an older state came later"
    assert seen_t[-1] == thresholds[-1] and seen_k[-1] == positives[-1]
    # the 60 alternating roast commands end on a drop: the roast is over
    assert states[-1].phase == "idle"
    assert runtime.current_settings().threshold == thresholds[-1]


def test_a_command_lands_while_no_window_arrives() -> None:
    """A stalled microphone must not hold commands back: the worker applies them idle."""
    config = AgentConfig.model_validate({"mqtt": {"enabled": False}})
    sink = RecordingSink()
    chain = build_chain(config, QuickScorer(), sinks=[sink])
    release = threading.Event()

    class Stalled:
        name = "stalled"
        realtime = True

        def __iter__(self) -> Iterator[np.ndarray]:
            release.wait(30)
            return iter(())

    loop = LiveLoop(Stalled(), chain)
    worker = threading.Thread(target=loop.run)
    worker.start()
    try:
        chain.runtime.commands.submit(SetSetting("threshold", 0.42))
        deadline = time.monotonic() + 10
        while not sink.states and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sink.states and sink.states[-1].settings["threshold"] == 0.42
        assert loop.windows_processed == 0
    finally:
        release.set()
        worker.join(timeout=10)
