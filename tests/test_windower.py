"""The windower yields identical windows whatever the chunk size."""

from __future__ import annotations

import numpy as np
import pytest

from firstcrack.agent.core.windower import Windower

SR = 16000


def windows(signal: np.ndarray, chunk: int, hop_s: float = 3.0) -> list[tuple[int, np.ndarray]]:
    w = Windower(SR, 10.0, hop_s)
    out = []
    for i in range(0, len(signal), chunk):
        out += [(win.end_sample, win.samples) for win in w.push(signal[i : i + chunk])]
    return out


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return np.random.default_rng(1).standard_normal(SR * 31).astype(np.float32)


@pytest.mark.parametrize("chunk", [1, 7, 160, 1600, 48000, 160000, 200003, SR * 31])
def test_windows_do_not_depend_on_chunk_size(signal: np.ndarray, chunk: int) -> None:
    reference = windows(signal, 1000)
    got = windows(signal, chunk) if chunk > 1 else windows(signal[: SR * 14], 1)
    assert [e for e, _ in got] == [e for e, _ in reference][: len(got)]
    for (end, samples), (_, ref) in zip(got, reference, strict=False):
        assert np.array_equal(samples, ref)
        assert np.array_equal(samples, signal[end - 10 * SR : end])


def test_first_window_when_full_then_every_hop(signal: np.ndarray) -> None:
    ends = [e / SR for e, _ in windows(signal, 4000)]
    assert ends == [10.0, 13.0, 16.0, 19.0, 22.0, 25.0, 28.0, 31.0]


def test_hop_change_applies_to_next_window(signal: np.ndarray) -> None:
    w = Windower(SR, 10.0, 3.0)
    ends = []
    for i in range(0, len(signal), 8000):
        for win in w.push(signal[i : i + 8000]):
            ends.append(win.end_s)
            if win.end_s == 13.0:
                w.hop_s = 1.0
    assert ends[:5] == [10.0, 13.0, 14.0, 15.0, 16.0]


def test_window_at_recuts_past_windows_from_the_history_ring() -> None:
    """With history, any window ending in the last `history_s` is the one a fixed hop cut."""
    audio = np.random.default_rng(5).standard_normal(SR * 60).astype(np.float32)
    fixed = {w.end_sample: w.samples for w in Windower(SR, 10.0, 3.0).push(audio)}
    w = Windower(SR, 10.0, 15.0, history_s=20.0)
    for start in range(0, len(audio), 1234):
        list(w.push(audio[start : start + 1234]))
    for end, samples in fixed.items():
        if end >= len(audio) - 20 * SR:
            np.testing.assert_array_equal(w.window_at(end).samples, samples)
    with pytest.raises(ValueError, match="not in the ring"):
        w.window_at(len(audio) - 25 * SR)
