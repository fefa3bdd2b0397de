"""One inference worker for one or more roasters.

Each roaster (a `LiveLoop` "lane") captures on its own thread and drops due
windows into its one-place slot. This worker waits on all slots at once,
takes every window that is due, runs the non-silent ones through the shared
classifier as ONE batch, and hands each result to its roaster's runtime. A
single roaster is simply a batch of one, so there is one code path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from agent.live import LiveLoop
    from agent.windower import Window

log = logging.getLogger("firstcrack.inference")


class BatchScorer(Protocol):
    name: str

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


class SharedInference:
    """Scores the due windows of several lanes together, until every lane has ended."""

    def __init__(self, lanes: Sequence[LiveLoop], scorer: BatchScorer) -> None:
        self.lanes = list(lanes)
        self.scorer = scorer
        self.batches = 0
        self.batch_sizes: list[int] = []
        conds = {id(lane.slot._cond) for lane in self.lanes}
        if len(conds) != 1:
            raise ValueError("lanes of one SharedInference must share one condition")
        self._cond: threading.Condition = self.lanes[0].slot._cond

    def _wait_for_work(self, timeout: float = 0.5) -> None:
        with self._cond:
            if not any(lane.slot.ready for lane in self.lanes):
                self._cond.wait(timeout)

    def run(self) -> None:
        captures = [lane.start_capture() for lane in self.lanes]
        active = list(self.lanes)
        while active:
            self._wait_for_work()
            due: list[tuple[LiveLoop, Window, int]] = []
            for lane in list(active):
                window, dropped, finished = lane.slot.take_nowait()
                if finished:
                    active.remove(lane)
                elif window is not None:
                    due.append((lane, window, dropped))
            if due:
                self._score(due)
        for capture in captures:
            capture.join(timeout=5.0)
        for lane in self.lanes:
            if lane.capture_error is not None:
                raise lane.capture_error

    def _score(self, due: list[tuple[LiveLoop, Window, int]]) -> None:
        gates = [lane.runtime.gate(window.samples) for lane, window, _ in due]
        loud = [i for i, (_, silent) in enumerate(gates) if not silent]
        probs = np.zeros(len(due), dtype=np.float32)
        elapsed_ms = 0.0
        if loud:
            batch = np.stack([due[i][1].samples for i in loud])
            started = time.perf_counter()
            probs[loud] = self.scorer.predict(batch)
            elapsed_ms = (time.perf_counter() - started) * 1000.0
            self.batches += 1
            self.batch_sizes.append(len(loud))
        for i, (lane, window, dropped) in enumerate(due):
            if dropped:
                log.warning(
                    "%s: inference behind, dropped %d stale window(s)",
                    lane.runtime.scorer.name,
                    dropped,
                )
            level, silent = gates[i]
            telemetry = lane.runtime.process_scored(
                window.end_s,
                float(probs[i]),
                level,
                0.0 if silent else elapsed_ms,
                silent,
                dropped,
            )
            lane.scored(window, telemetry)
