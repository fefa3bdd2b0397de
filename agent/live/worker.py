"""One inference worker for one or more roasters; the owner of their roast state.

Each roaster (a `LiveLoop` "lane") captures on its own thread and drops due
windows into its one-place slot. This worker waits on all slots at once,
takes every window that is due, runs the non-silent ones through the shared
classifier as ONE batch (`firstcrack.agent.core.scoring.score_due`, the step offline
`analyze` runs too), and hands each result to its roaster's runtime.

It is also the thread that applies commands: every lane's runtime command
queue wakes it, and it applies what is pending on every turn, with or
without a window, so a `/set` lands within a fraction of a second even while
a microphone is stalled. A capture thread that died is raised here as
`CaptureError` once every lane has ended, so `run` exits 1 with the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from firstcrack.agent.core.scoring import score_due
from firstcrack.agent.sources.base import CaptureError
from firstcrack.models.contracts import Scorer

if TYPE_CHECKING:
    from firstcrack.agent.core.windower import Window
    from firstcrack.agent.live.loop import LiveLoop

log = logging.getLogger("firstcrack.inference")


class SharedInference:
    """Scores the due windows of several lanes together, until every lane has ended."""

    def __init__(self, lanes: Sequence[LiveLoop], scorer: Scorer) -> None:
        self.lanes = list(lanes)
        self.scorer = scorer
        self.batches = 0
        self.batch_sizes: list[int] = []
        conds = {id(lane.slot.condition) for lane in self.lanes}
        if len(conds) != 1:
            raise ValueError("lanes of one SharedInference must share one condition")
        self._cond = self.lanes[0].slot.condition
        for lane in self.lanes:
            lane.runtime.commands.add_listener(self._wake)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _wait_for_work(self, timeout: float = 0.5) -> None:
        with self._cond:
            if not any(lane.slot.ready or lane.runtime.commands.pending for lane in self.lanes):
                self._cond.wait(timeout)

    def run(self) -> None:
        """Until every source has ended; re-raises the first capture thread's failure."""
        captures = [lane.start_capture() for lane in self.lanes]
        active = list(self.lanes)
        while active:
            self._wait_for_work()
            due: list[tuple[LiveLoop, Window, int]] = []
            for lane in list(active):
                lane.runtime.apply_pending()
                window, dropped, finished = lane.slot.take_nowait()
                if finished:
                    active.remove(lane)
                elif window is not None:
                    due.append((lane, window, dropped))
            if due:
                sizes = score_due(due, self.scorer)
                self.batches += len(sizes)
                self.batch_sizes.extend(sizes)
        for capture in captures:
            capture.join(timeout=5.0)
        failed = [lane for lane in self.lanes if lane.capture_error is not None]
        for lane in failed:  # every roaster's failure is told, the first one is raised
            log.error("%s: audio capture failed: %s", lane.name, lane.capture_error)
        if failed:
            first = failed[0]
            raise CaptureError(
                f"{first.name}: audio capture failed: {first.capture_error}"
            ) from first.capture_error
