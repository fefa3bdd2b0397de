"""The few signal-processing kernels the runtime needs, in numpy alone.

Why not `scipy.signal`: importing it costs ~75 MB of resident memory, enough to
keep the agent over its memory target on a Raspberry Pi, and the runtime uses
only two of its routines (the resampler's anti-aliasing filter and the pop
counter's band-pass filters). Each function here reproduces the scipy routine
it replaces to float64 rounding (tests/test_dsp.py compares them), so outputs
do not change. This module must never import scipy.

- `firwin_kaiser` + `polyphase_taps` + `polyphase_filter` (or `upfirdn`):
  the polyphase resampling that `scipy.signal.resample_poly` does;
- `butter_bandpass` + `impulse_response` + `FirBank`: a Butterworth band-pass
  bank run block by block, equal to `scipy.signal.sosfilt` with carried state.
"""

from __future__ import annotations

import math

import numpy as np

_GATHER_ELEMENTS = 1 << 16
"""Outputs per batch x taps per phase in `polyphase_filter`: bounds the gathered windows
(512 KiB of float64) so one call on a long signal never builds a huge temporary."""


_PHASE_LOOP_MIN = 16
"""`polyphase_filter` loops over phases when each gets at least this many outputs (a
Python iteration per phase pays off), else gathers every output's window at once."""


def firwin_kaiser(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """Low-pass FIR taps: a Kaiser-windowed sinc scaled to unit gain at DC.

    Equals `scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))`
    (cutoff relative to Nyquist, 0 < cutoff < 1; scale=True normalises the
    taps to sum to 1, which is the DC gain of a low-pass).
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if not 0.0 < cutoff < 1.0:
        raise ValueError(f"cutoff must be in (0, 1) relative to Nyquist, got {cutoff}")
    m = np.arange(numtaps, dtype=np.float64) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return h / np.sum(h)


def polyphase_taps(h: np.ndarray, up: int) -> np.ndarray:
    """Split `h` into its `up` phases: row p holds h[p], h[p+up], ... in reverse order.

    Reversed so that a phase's taps line up with an ascending window of input
    samples (see `polyphase_filter`); rows are zero-padded to a common length.
    """
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    per_phase = -(-len(h) // up)
    padded = np.zeros(per_phase * up)
    padded[: len(h)] = h
    return np.ascontiguousarray(padded.reshape(per_phase, up).T[:, ::-1])


def polyphase_filter(
    taps: np.ndarray, x: np.ndarray, up: int, down: int, first: int, count: int
) -> np.ndarray:
    """Samples first, first+down, ... (`count` of them) of conv(h, x upsampled by `up`).

    "Upsampled" means `up - 1` zeros after every input sample; x is zero
    outside its extent. `taps` is `polyphase_taps(h, up)`. Why polyphase:
    inserting the zeros and convolving in full would spend `up` x `down` times
    the work on products with zeros or outputs that are thrown away (70 000 x
    for 44.1 -> 16 kHz). Full-convolution index n = q*up + p only meets input
    samples x[q], x[q-1], ... through taps h[p], h[p+up], ..., so each output is
    one dot product of a phase's taps with a window of input, vectorised over
    the outputs: a strided matrix product per phase when each phase has many
    outputs (always so when up == 1), else one gather of every output's window.
    """
    if first < 0 or count < 0:
        raise ValueError(f"first and count must be >= 0, got {first}, {count}")
    if count == 0:
        return np.zeros(0)
    x = np.asarray(x).reshape(-1)  # only the slice it needs is copied (as float64)
    per_phase = taps.shape[1]
    q_first, q_last = first // up, (first + down * (count - 1)) // up
    lo = q_first - per_phase + 1  # input index of the first window's first sample
    seg = np.zeros(q_last + 1 - lo)  # x[lo : q_last + 1], zero outside x
    a, b = max(lo, 0), min(q_last + 1, len(x))
    if b > a:
        seg[a - lo : b - lo] = x[a:b]
    windows = np.lib.stride_tricks.sliding_window_view(seg, per_phase)  # windows[i] starts at lo+i
    y = np.empty(count)
    if count >= _PHASE_LOOP_MIN * up:
        # Outputs r, r+up, r+2up, ... share one phase and step `down` inputs: one strided
        # matrix product per phase (a single one when up == 1).
        for r in range(up):
            q, p = divmod(first + down * r, up)
            rows = len(range(r, count, up))
            y[r::up] = windows[q - q_first :: down][:rows] @ taps[p]
        return y
    batch = max(1, _GATHER_ELEMENTS // per_phase)
    for start in range(0, count, batch):
        n = first + down * np.arange(start, min(start + batch, count))
        q, p = np.divmod(n, up)
        y[start : start + len(n)] = np.einsum("ij,ij->i", windows[q - q_first], taps[p])
    return y


def upfirdn(h: np.ndarray, x: np.ndarray, up: int = 1, down: int = 1) -> np.ndarray:
    """Upsample by `up` (zero insertion), FIR-filter with `h`, downsample by `down`.

    Equals `scipy.signal.upfirdn(h, x, up, down)` for 1-D float input: the
    same ((len(x) - 1) * up + len(h) - 1) // down + 1 samples, float64.
    """
    h = np.asarray(h, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be >= 1, got {up}, {down}")
    if not len(h) or not len(x):
        raise ValueError("h and x must not be empty")
    count = ((len(x) - 1) * up + len(h) - 1) // down + 1
    return polyphase_filter(polyphase_taps(h, up), x, up, down, 0, count)


def butter_bandpass(
    order: int, low_hz: float, high_hz: float, fs: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Zeros, poles and gain of a digital Butterworth band-pass (2*order poles).

    The steps of `scipy.signal.butter(order, [low_hz, high_hz], "bandpass",
    fs=fs, output="zpk")`: the analog low-pass prototype (poles evenly spaced
    on the left unit half-circle, no zeros), band edges pre-warped so the
    bilinear transform lands them where asked, the low-pass to band-pass
    substitution s -> (s^2 + wo^2) / (bw*s), then the bilinear transform.
    Frequencies are worked with scipy's normalisation (fs = 2, i.e. edges
    relative to Nyquist) so every intermediate value rounds the same way.
    """
    if not (isinstance(order, int) and order >= 1):
        raise ValueError(f"order must be a positive int, got {order}")
    if not 0 < low_hz < high_hz < fs / 2:
        raise ValueError(f"need 0 < low_hz < high_hz < fs/2, got {low_hz}, {high_hz}, fs={fs}")
    wn = np.array([low_hz, high_hz], dtype=np.float64) / (fs / 2)
    warped = 2 * 2.0 * np.tan(np.pi * wn / 2.0)  # analog edges for a bilinear map at fs = 2
    bw = float(warped[1] - warped[0])
    wo = float(np.sqrt(warped[0] * warped[1]))
    m = np.arange(-order + 1, order, 2, dtype=np.float64)
    proto = -np.exp(1j * np.pi * m / (2 * order))  # analog low-pass poles, cutoff 1 rad/s
    # Low-pass to band-pass: each prototype pole splits into a pair around +-wo.
    p_lp = (proto * bw / 2).astype(np.complex128)
    root = np.sqrt(p_lp**2 - wo**2)
    p_analog = np.concatenate((p_lp + root, p_lp - root))
    z_analog = np.zeros(order, dtype=np.complex128)  # the other `order` zeros are at infinity
    k_analog = bw**order
    # Bilinear transform at fs = 2: s -> 4 (z - 1) / (z + 1); zeros at infinity go to z = -1.
    fs2 = 4.0
    z = np.concatenate(((fs2 + z_analog) / (fs2 - z_analog), -np.ones(order)))
    p = (fs2 + p_analog) / (fs2 - p_analog)
    k = float(k_analog * np.real(np.prod(fs2 - z_analog) / np.prod(fs2 - p_analog)))
    return z, p, k


def zpk_to_ba(z: np.ndarray, p: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Transfer-function coefficients (b, a) of real zeros/poles in conjugate pairs."""
    return k * np.real(np.poly(z)), np.real(np.poly(p))


def impulse_response(z: np.ndarray, p: np.ndarray, k: float, tol: float = 1e-12) -> np.ndarray:
    """Impulse response of a stable digital zpk filter, cut once it stays under tol x its peak.

    Why an impulse response: convolving with it needs no per-sample Python,
    unlike the recursion. It is computed exactly (to rounding) as the inverse
    FFT of the frequency response k * prod(w - z) / prod(w - p) sampled on a grid
    of M points: that is the true response time-aliased with period M, and M
    is chosen from the pole radius r (the response decays like r^n) so that
    the aliased part is far below `tol`. Needs no more zeros than poles.
    """
    r = float(np.max(np.abs(p)))
    if not r < 1.0:
        raise ValueError(f"unstable filter: pole radius {r}")
    decay = math.ceil(math.log(tol) / math.log(r)) if r > 0 else 1  # r^n < tol from here on
    size = 1 << max(6, (4 * decay + 64).bit_length())  # > 4x the decay length
    w = np.exp(2j * np.pi * np.arange(size // 2 + 1) / size)
    response = k * np.prod(w[:, None] - z, axis=1) / np.prod(w[:, None] - p, axis=1)
    h = np.fft.irfft(response, size)
    above = np.flatnonzero(np.abs(h) > tol * np.max(np.abs(h)))
    return h[: above[-1] + 1]


def fast_len(n: int) -> int:
    """Smallest 5-smooth integer >= n (n >= 1): an FFT size pocketfft handles fast."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = 1 << (-(-n // p35) - 1).bit_length()  # smallest power of 2 >= n / p35
            best = min(best, p35 * p2)
            p35 *= 3
        p5 *= 5
    return best


class FirBank:
    """Several FIR filters run over one stream, block by block, by FFT (overlap-save).

    Streaming equals one-shot filtering of the whole stream: the last
    len(h) - 1 input samples are carried between blocks, so any cut of the
    stream gives the same output. One forward FFT per block serves every
    filter. Blocks over `max_block` samples are split, which bounds the FFT
    size (and the per-size cache of filter spectra) whatever the caller feeds.
    """

    def __init__(self, irs: list[np.ndarray], max_block: int = 8192) -> None:
        length = max(len(h) for h in irs)
        self._irs = np.zeros((len(irs), length))
        for i, h in enumerate(irs):
            self._irs[i, : len(h)] = h
        self._history = np.zeros(length - 1)
        self._max_block = max_block
        self._spectra: dict[int, np.ndarray] = {}

    def _spectrum(self, size: int) -> np.ndarray:
        spectrum = self._spectra.get(size)
        if spectrum is None:
            if len(self._spectra) >= 4:  # block sizes are steady in practice
                self._spectra.clear()
            spectrum = self._spectra[size] = np.fft.rfft(self._irs, size, axis=1)
        return spectrum

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter one block: returns (n_filters, len(x)) float64."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if not len(x):
            return np.zeros((len(self._irs), 0))
        if len(x) > self._max_block:
            parts = [
                self.process(x[i : i + self._max_block]) for i in range(0, len(x), self._max_block)
            ]
            return np.concatenate(parts, axis=1)
        keep = len(self._history)
        ext = np.concatenate((self._history, x))
        size = fast_len(len(ext))
        y = np.fft.irfft(np.fft.rfft(ext, size) * self._spectrum(size), size, axis=1)
        if keep:
            self._history = ext[-keep:]
        return y[:, keep : keep + len(x)]
