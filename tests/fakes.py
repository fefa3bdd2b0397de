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
