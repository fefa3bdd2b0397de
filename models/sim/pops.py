"""First-crack pops from several families, so that no single synthesis recipe is what a
model learns to hear.

Families (``POP_FAMILIES``), all dry (before the roaster body and microphone):

- ``bank``: the original damped two-mode resonance with a broadband click.
- ``resonator``: an impulse ringing 1-4 damped modes of random pitch and Q (4-40), a click
  with a definite "tone", like a bean shell ringing.
- ``noise_burst``: broadband noise with an exponential decay (0.3-6 ms) and a random
  spectral tilt and emphasis: a crack with no pitch at all.
- ``double``: two bank or resonator pops 3-40 ms apart, the second 0.3-1.2 times as loud:
  a bean that splits twice.
- ``real``: a real popcorn pop from ``models/data/popcorn/pops_16k.npz`` (see the README
  there), resampled by 0.8-1.25x (pitch and length change together) and sign-flipped at
  random.

Each roast draws its own mixture of families (``draw_pop_mix``), and each pop picks a family
from that mixture. Rows are RAW_LEN samples dry and ROW_LEN after the body response, so a
63 ms real pop plus a 32 ms body tail never wraps around.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from firstcrack.models.sim.sounds import pop_bank_raw

POP_FAMILIES = ("bank", "resonator", "noise_burst", "double", "real")
RAW_LEN = 1024  # samples of a dry pop (64 ms at 16 kHz; the longest real pop is 63 ms)
ROW_LEN = 2048  # samples after the body/mic response (RAW_LEN + its 512-sample IR, padded)
POPS_FILE = Path(__file__).resolve().parents[1] / "data" / "popcorn" / "pops_16k.npz"


@cache
def real_pops() -> tuple[np.ndarray, ...]:
    """The vendored real popcorn pops, float32 at 16 kHz, each peak about 0.9."""
    with np.load(POPS_FILE) as bank:
        samples = bank["samples"].astype(np.float32) / 32767.0
        offsets = bank["offsets"]
    return tuple(samples[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True))


def draw_pop_mix(rng: np.random.Generator) -> dict[str, float]:
    """Per-roast weights over ``POP_FAMILIES`` (sum 1), Dirichlet(0.8): most roasts lean on
    one or two families, but every family turns up as the leading one in some roasts."""
    w = rng.dirichlet(np.full(len(POP_FAMILIES), 0.8))
    return {f: round(float(v), 4) for f, v in zip(POP_FAMILIES, w, strict=True)}


def _col(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)[:, None]


def _resonator(rng: np.random.Generator, n: int, sr: int, centre_hz: float) -> np.ndarray:
    """Impulse through 1-4 damped modes (pitch around ``centre_hz`` ±0.8 octave, Q 4-40)."""
    t = np.arange(RAW_LEN) / sr
    out = np.zeros((n, RAW_LEN))
    n_modes = rng.integers(1, 5, n)
    attack = 1 - np.exp(-t[None, :] / _col(rng.uniform(0.03, 0.5, n) / 1000))
    for m in range(4):
        f = np.clip(centre_hz * 2 ** rng.normal(0.6 * m, 0.8, n), 250, 0.45 * sr)
        q = np.exp(rng.uniform(np.log(4), np.log(40), n))
        amp = rng.uniform(0.2, 1.0, n) * (m < n_modes)
        tau = q / (np.pi * f)  # s: a mode of quality Q rings Q/pi cycles
        out += (_col(amp) * np.sin(2 * np.pi * _col(f) * t + _col(rng.uniform(0, 6.3, n)))
                * np.exp(-t[None, :] / _col(tau)))
    return attack * out


def _noise_burst(rng: np.random.Generator, n: int, sr: int, centre_hz: float) -> np.ndarray:
    """Noise with exponential decay, a tilt of -6..+3 dB/octave and a bump near a random
    frequency 1-3 octaves around ``centre_hz``, gated to 2-20 ms."""
    t = np.arange(RAW_LEN) / sr
    env = np.exp(-t[None, :] / _col(rng.uniform(0.3, 6.0, n) / 1000))
    env *= t[None, :] < _col(rng.uniform(0.002, 0.02, n))
    x = rng.standard_normal((n, RAW_LEN)) * env
    f = np.maximum(sfft.rfftfreq(RAW_LEN, 1 / sr), 20.0)[None, :]
    tilt = _col(rng.uniform(-6, 3, n))
    fc = _col(np.clip(centre_hz * 2 ** rng.uniform(-1, 3, n), 200, 0.45 * sr))
    shape_db = tilt * np.log2(f / 1000) + _col(rng.uniform(0, 12, n)) * np.exp(
        -0.5 * (np.log2(f / fc) / 0.5) ** 2)
    y = sfft.irfft(sfft.rfft(x, axis=1) * 10 ** (shape_db / 20), n=RAW_LEN, axis=1)
    return y * (t[None, :] < 0.03)  # the filter rings a little; keep the burst short


def _double(rng: np.random.Generator, n: int, sr: int, centre_hz: float,
            tau_ms: tuple[float, float]) -> np.ndarray:
    """Two pops of the bank or resonator family, 3-40 ms apart."""
    a = _single_tonal(rng, n, sr, centre_hz, tau_ms)
    b = _single_tonal(rng, n, sr, centre_hz, tau_ms)
    shift = rng.integers(int(0.003 * sr), int(0.040 * sr), n)
    cols = np.arange(RAW_LEN)[None, :] - shift[:, None]
    echo = np.take_along_axis(b, np.maximum(cols, 0), axis=1) * (cols >= 0)
    return a + _col(rng.uniform(0.3, 1.2, n)) * echo


def _single_tonal(rng: np.random.Generator, n: int, sr: int, centre_hz: float,
                  tau_ms: tuple[float, float]) -> np.ndarray:
    """Peak-normalised pops, each from the bank or the resonator family (half and half)."""
    use_bank = rng.random(n) < 0.5
    out = np.zeros((n, RAW_LEN))
    nb = int(use_bank.sum())
    if nb:
        out[use_bank, :320] = pop_bank_raw(rng, nb, sr, centre_hz, tau_ms)
    if n - nb:
        out[~use_bank] = _resonator(rng, n - nb, sr, centre_hz)
    return out / (np.abs(out).max(axis=1, keepdims=True) + 1e-12)


def _real(rng: np.random.Generator, n: int) -> np.ndarray:
    """Real popcorn pops, each resampled by 0.8-1.25x (linear interpolation) and with a
    random sign."""
    bank = real_pops()
    out = np.zeros((n, RAW_LEN))
    for i, k in enumerate(rng.integers(len(bank), size=n)):
        src = bank[k]
        ratio = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
        m = min(RAW_LEN, int(src.size / ratio))
        out[i, :m] = np.interp(np.arange(m) * ratio, np.arange(src.size), src)
    return out * _col(rng.choice([-1.0, 1.0], n))


def pop_rows(rng: np.random.Generator, weights: dict[str, float], n_pops: int, sr: int,
             centre_hz: float, tau_ms: tuple[float, float], ir: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """``n_pops`` pops (rows of ROW_LEN samples, float32, peak 1) through the roaster body
    and microphone ``ir``, and each pop's family index into ``POP_FAMILIES``."""
    fam = rng.choice(len(POP_FAMILIES), size=n_pops,
                     p=np.asarray([weights[f] for f in POP_FAMILIES]) / sum(weights.values()))
    raw = np.zeros((n_pops, RAW_LEN))
    for k, name in enumerate(POP_FAMILIES):
        sel = np.flatnonzero(fam == k)
        if not sel.size:
            continue
        if name == "bank":
            raw[sel, :320] = pop_bank_raw(rng, sel.size, sr, centre_hz, tau_ms)
        elif name == "resonator":
            raw[sel] = _resonator(rng, sel.size, sr, centre_hz)
        elif name == "noise_burst":
            raw[sel] = _noise_burst(rng, sel.size, sr, centre_hz)
        elif name == "double":
            raw[sel] = _double(rng, sel.size, sr, centre_hz, tau_ms)
        else:
            raw[sel] = _real(rng, sel.size)
    if n_pops == 0:
        return np.zeros((0, ROW_LEN), np.float32), fam
    spec = sfft.rfft(raw, n=ROW_LEN, axis=1) * sfft.rfft(ir, n=ROW_LEN)[None, :]
    out = sfft.irfft(spec, n=ROW_LEN, axis=1)
    out /= np.abs(out).max(axis=1, keepdims=True) + 1e-12
    return out.astype(np.float32), fam
