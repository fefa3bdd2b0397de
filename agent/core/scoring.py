"""The one scoring step: due windows in, probabilities through the runtimes out.

`score_due` is what the live inference worker (agent/live/worker.py) runs for
every batch, and what offline `Chain.feed` runs per window, so live and
offline score the same way. It touches no audio device and no network.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from firstcrack.models.contracts import Scorer

if TYPE_CHECKING:
    from firstcrack.agent.core.cadence import CadenceDriver
    from firstcrack.agent.core.messages import Telemetry
    from firstcrack.agent.core.runtime import Runtime
    from firstcrack.agent.core.windower import Window

log = logging.getLogger("firstcrack.inference")

SILENCE_FLOOR_DBFS = -160.0


def amplitude_dbfs(amplitude: float) -> float:
    """20 log10 of an amplitude (full scale 1.0), floored at SILENCE_FLOOR_DBFS."""
    if amplitude <= 0:
        return SILENCE_FLOOR_DBFS
    return max(SILENCE_FLOOR_DBFS, 20.0 * math.log10(amplitude))


def dbfs(samples: np.ndarray) -> float:
    """RMS level of a float signal in dBFS (full scale = 1.0)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return amplitude_dbfs(rms)


class Lane(Protocol):
    """One roaster's chain as the scoring step sees it (a `LiveLoop` or an offline `Chain`)."""

    key: str  # the roaster's id: its audio stream's feature state in the classifier
    runtime: Runtime
    driver: CadenceDriver

    def scored(self, window: Window, telemetry: Telemetry) -> None: ...


def _predict(
    scorer: Scorer, lanes: Sequence[Lane], windows: Sequence[Window]
) -> tuple[np.ndarray, np.ndarray | None, list[tuple[float, bool]], float, int]:
    """(p per window, p(second crack) per window or None, (dBFS, silent) per window, ms for
    the batch, batch size); silent windows score 0.

    A scorer with a second-crack output (`predict_heads`, the ear) gives both from one pass.
    """
    gates = [lane.runtime.gate(w.samples) for lane, w in zip(lanes, windows, strict=True)]
    loud = [i for i, (_, silent) in enumerate(gates) if not silent]
    probs = np.zeros(len(windows), dtype=np.float32)
    second = None  # silent windows never count towards second crack either
    heads = getattr(scorer, "predict_heads", None)
    elapsed_ms = 0.0
    if loud:
        started = time.perf_counter()
        batch = np.stack([windows[i].samples for i in loud])
        streams = [lanes[i].key for i in loud]
        if heads is None:
            probs[loud] = scorer.predict(batch, streams=streams)
        else:
            first, other = heads(batch, streams=streams)
            probs[loud] = first
            if other is not None:
                second = np.zeros(len(windows), dtype=np.float32)
                second[loud] = other
        elapsed_ms = (time.perf_counter() - started) * 1000.0
    return probs, second, gates, elapsed_ms, len(loud)


def score_due(due: Sequence[tuple[Lane, Window, int]], scorer: Scorer) -> list[int]:
    """Score each lane's due window, with its cadence lookback, and run the detectors.

    One batch holds every lane's due window. A window that wakes its lane's
    cadence (agent/core/cadence.py) has the grid windows its idle hop skipped
    scored in a second batch; each lane then hears its windows in time order,
    the re-scored ones dated at the waking window's end. Returns the sizes of
    the batches that reached the classifier.
    """
    lanes = [lane for lane, _, _ in due]
    windows = [window for _, window, _ in due]
    probs, second, gates, ms, n = _predict(scorer, lanes, windows)
    sizes = [n] if n else []
    back: list[tuple[int, Window]] = []
    for i, (lane, window, _) in enumerate(due):
        threshold = lane.runtime.current_settings().threshold
        if lane.driver.wants_lookback(window, float(probs[i]), threshold):
            back += [(i, old) for old in window.skipped]
    rescored: dict[int, list[tuple[Window, float, float | None, tuple[float, bool]]]] = {}
    back_ms = 0.0
    if back:
        back_probs, back_second, back_gates, back_ms, n = _predict(
            scorer, [lanes[i] for i, _ in back], [w for _, w in back]
        )
        if n:
            sizes.append(n)
        for k, ((i, old), p, gate) in enumerate(zip(back, back_probs, back_gates, strict=True)):
            sc = None if back_second is None else float(back_second[k])
            rescored.setdefault(i, []).append((old, float(p), sc, gate))
    for i, (lane, window, dropped) in enumerate(due):
        if dropped:
            name = lane.runtime.scorer.name
            log.warning("%s: inference behind, dropped %d stale window(s)", name, dropped)
        for old, p, sc, (level, silent) in rescored.get(i, []):
            telemetry = lane.runtime.process_scored(
                old.end_s, p, level, 0.0 if silent else back_ms, silent, known_s=window.end_s,
                second_crack=sc,
            )
            lane.scored(old, telemetry)
        level, silent = gates[i]
        telemetry = lane.runtime.process_scored(
            window.end_s, float(probs[i]), level, 0.0 if silent else ms, silent, dropped,
            second_crack=None if second is None else float(second[i]),
        )
        lane.scored(window, telemetry)
    return sizes
