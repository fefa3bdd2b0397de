"""Plain fakes shared by unit tests."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


def loud(n: int, seed: int = 0) -> np.ndarray:
    """`n` samples of noise well above the silence gate (about -20 dBFS)."""
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


class SlowScorer:
    """Blocks each prediction until the test releases `gate`: slow without timing."""

    name = "slow"

    def __init__(self, p: float = 0.1) -> None:
        self.gate = threading.Semaphore(0)
        self.calls = 0
        self.p = p

    def predict(self, windows: np.ndarray, streams: list[str] | None = None) -> np.ndarray:
        self.calls += 1
        self.gate.acquire()
        return np.full(len(windows), self.p, np.float32)


def apply(runtime: Any, command: Any) -> None:
    """Submit a command and apply it at once, as the scoring thread would before a window."""
    runtime.commands.submit(command)
    runtime.apply_pending()


def score_window(runtime: Any, end_s: float, samples: np.ndarray) -> Any:
    """Score one window through `runtime` as the scoring step does (gate, model, detector);
    returns its telemetry. The live path batches windows (agent/core/scoring.py)."""
    level, silent = runtime.gate(samples)
    p = 0.0 if silent else float(runtime.scorer.predict(samples[None, :])[0])
    return runtime.process_scored(end_s, p, level, 1.0, silent)


class Provided:
    """A payload provider with fixed values (agent/core/payload_schema.py)."""

    def __init__(self, provider: str, state: dict[str, Any],
                 telemetry: dict[str, Any] | None = None) -> None:
        self.provider = provider
        self.values = {"state": state, "telemetry": telemetry or {}}

    def payload_values(self, topic: str, clock: Any) -> dict[str, Any]:
        return dict(self.values[topic])
