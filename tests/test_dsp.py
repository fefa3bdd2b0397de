"""firstcrack.agent.core.dsp against the scipy.signal routines it replaces (scipy is only a test
dependency here), and the runtime path's promise never to import scipy.signal."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from firstcrack.agent.core import dsp
from firstcrack.agent.core.transients import TransientConfig

RATES = [8000, 11025, 22050, 32000, 44100, 48000, 96000]
ROOT = Path(__file__).resolve().parent.parent


def resampling(rate: int) -> tuple[int, int, int]:
    """up, down and filter length of `resample_poly` for rate -> 16 kHz."""
    g = math.gcd(rate, 16000)
    up, down = 16000 // g, rate // g
    return up, down, 20 * max(up, down) + 1


@pytest.mark.parametrize("rate", RATES)
def test_firwin_kaiser_equals_scipy_firwin(rate: int) -> None:
    up, down, taps = resampling(rate)
    cutoff = 1.0 / max(up, down)
    ours = dsp.firwin_kaiser(taps, cutoff, 5.0)
    theirs = signal.firwin(taps, cutoff, window=("kaiser", 5.0))
    assert np.max(np.abs(ours - theirs)) <= 1e-15


@pytest.mark.parametrize(
    ("numtaps", "cutoff", "beta"), [(1, 0.5, 5.0), (2, 0.3, 5.0), (64, 0.1, 8.6), (101, 0.9, 0.0)]
)
def test_firwin_kaiser_odd_corners(numtaps: int, cutoff: float, beta: float) -> None:
    theirs = signal.firwin(numtaps, cutoff, window=("kaiser", beta))
    np.testing.assert_allclose(dsp.firwin_kaiser(numtaps, cutoff, beta), theirs, atol=1e-15)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("seconds", [1 / 8000, 0.004, 0.03, 0.5])
def test_upfirdn_equals_scipy_upfirdn(rate: int, seconds: float) -> None:
    """Short inputs take the gather path, long ones the per-phase loop: both are exact."""
    up, down, taps = resampling(rate)
    h = signal.firwin(taps, 1.0 / max(up, down), window=("kaiser", 5.0)) * up
    x = np.random.default_rng(rate).standard_normal(max(1, round(rate * seconds)))
    theirs = signal.upfirdn(h, x, up, down)
    ours = dsp.upfirdn(h, x, up, down)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= 1e-12 * np.max(np.abs(x))


def test_polyphase_filter_picks_any_run_of_outputs() -> None:
    """A run of outputs starting anywhere (the resampler's use) is that slice of upfirdn."""
    rng = np.random.default_rng(5)
    h, x = rng.standard_normal(50), rng.standard_normal(300)
    for up, down in ((1, 3), (3, 1), (7, 5), (160, 441)):
        full = signal.upfirdn(h, x, up, down)
        taps = dsp.polyphase_taps(h, up)
        for first, count in ((0, 5), (3, 40), (11, len(full) - 11), (len(full) + 2, 4)):
            ours = dsp.polyphase_filter(taps, x, up, down, first * down, count)
            want = np.concatenate((full, np.zeros(first + count)))[first : first + count]
            np.testing.assert_allclose(ours, want, rtol=0, atol=1e-12)


def test_fast_len_is_the_next_5_smooth_number() -> None:
    def smooth(n: int) -> bool:
        for f in (2, 3, 5):
            while n % f == 0:
                n //= f
        return n == 1

    for n in range(1, 3000):
        got = dsp.fast_len(n)
        assert got >= n and smooth(got)
        assert not any(smooth(m) for m in range(n, got))


def band_edges() -> list[tuple[float, float, float]]:
    """The pop counter's sub-bands at 16 kHz, plus a few others at other rates."""
    edges = [(lo, hi, 16000.0) for lo, hi in TransientConfig().band_edges_hz()]
    return edges + [(30.0, 60.0, 16000.0), (100.0, 20000.0, 44100.0), (1000.0, 3999.0, 8000.0)]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_butter_bandpass_equals_scipy_butter(order: int) -> None:
    for lo, hi, fs in band_edges():
        z, p, k = dsp.butter_bandpass(order, lo, hi, fs)
        b, a = dsp.zpk_to_ba(z, p, k)
        b_ref, a_ref = signal.butter(order, [lo, hi], btype="bandpass", fs=fs)
        np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-9)
        np.testing.assert_allclose(a, a_ref, rtol=0, atol=1e-9)
        z_ref, p_ref, k_ref = signal.butter(order, [lo, hi], "bandpass", fs=fs, output="zpk")
        np.testing.assert_allclose(np.sort_complex(p), np.sort_complex(p_ref), atol=1e-12)
        assert k == pytest.approx(k_ref, rel=1e-12)


@pytest.mark.parametrize(("lo", "hi", "fs"), band_edges())
def test_impulse_response_is_sosfilts_cut_after_it_decays(lo: float, hi: float, fs: float) -> None:
    h = dsp.impulse_response(*dsp.butter_bandpass(2, lo, hi, fs))
    impulse = np.zeros(len(h) + 5000)
    impulse[0] = 1.0
    sos = signal.butter(2, [lo, hi], btype="bandpass", fs=fs, output="sos")
    ref = signal.sosfilt(sos, impulse)
    peak = np.max(np.abs(ref))
    assert np.max(np.abs(h - ref[: len(h)])) <= 1e-12 * peak
    # What is cut off is under the tolerance (1 % slack: the two computations round differently).
    assert np.max(np.abs(ref[len(h) :])) <= 1.01e-12 * peak
    assert abs(h[-1]) > 1e-12 * peak  # and no longer than needed
    if fs == 16000.0 and lo >= 500.0:
        assert len(h) < 1000  # the pop counter's sub-bands: a few hundred taps


def streams() -> list[tuple[str, np.ndarray]]:
    from firstcrack.models.sim.simulator import simulate_roast

    roast, truth = simulate_roast(103, duration_s=60.0)
    rng = np.random.default_rng(2)
    return [
        ("roast", roast),  # first crack pops over drum and fan noise
        ("noise", (0.3 * rng.standard_normal(16000 * 8)).astype(np.float32)),
        ("loud-clicks", np.where(rng.random(16000 * 4) < 0.001, 1.0, 0.0)),
    ]


def test_firbank_streamed_equals_sosfilt_over_the_whole_signal() -> None:
    """Any cut into blocks gives the recursive filter's output on the whole signal."""
    edges = TransientConfig().band_edges_hz()
    zpks = [dsp.butter_bandpass(2, lo, hi, 16000) for lo, hi in edges]
    soses = [
        signal.butter(2, [lo, hi], btype="bandpass", fs=16000, output="sos") for lo, hi in edges
    ]
    rng = np.random.default_rng(0)
    for name, x in streams():
        bank = dsp.FirBank([dsp.impulse_response(*zpk) for zpk in zpks], max_block=5000)
        pieces, i = [], 0
        while i < len(x):  # blocks of 1 sample up to over max_block (split inside)
            n = int(rng.choice([1, 7, 160, 1600, 1601, 12000]))
            pieces.append(bank.process(x[i : i + n]))
            i += n
        ours = np.concatenate(pieces, axis=1)
        ref = np.vstack([signal.sosfilt(sos, x.astype(np.float64)) for sos in soses])
        error = np.max(np.abs(ours - ref)) / np.max(np.abs(x))
        assert error <= 1e-7, (name, error)
        assert error <= 1e-10, (name, error)  # in fact ~1e-13


def test_runtime_path_never_imports_scipy_signal() -> None:
    """Sources, resampler and pop counter run without scipy.signal (~75 MB resident)."""
    code = """
import sys
import numpy as np
import firstcrack.agent.sources
import firstcrack.agent.core.transients
from firstcrack.agent.sources import StreamingResampler
from firstcrack.agent.core.transients import TransientCounter

resampler = StreamingResampler(48000, 16000)
block = resampler.process(np.random.default_rng(0).standard_normal(4800).astype(np.float32))
block = np.concatenate([block, resampler.flush()])
counter = TransientCounter(16000)
counter.push(block)
assert len(block) == 1600, len(block)
print(",".join(sorted(m for m in sys.modules if m == "scipy" or m.startswith("scipy."))))
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = [m for m in done.stdout.strip().split(",") if m]
    assert "scipy.signal" not in loaded, loaded
