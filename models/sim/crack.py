"""First- and second-crack pop times: the dense, bursty crack of a drum roaster and the
sparse crack of small home roasters.

Dense first crack follows the published statistics (bursts of 1.3-5.8 s, gaps of at most
9 s, a sparse onset and a taper). Sparse first crack is 8-30 pops scattered over 40-120 s
with gaps of up to 20 s: small roasters with few beans often crack like this, and a detector
that waits for bursts never fires on it.

All times are seconds from the start of the recording.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firstcrack.models.sim.timeline import (
    BURST_MAX_S,
    BURST_MIN_S,
    CRACK_MAX_S,
    CRACK_MEDIAN_S,
    CRACK_MIN_S,
    END_MARGIN_S,
    FULL_TIMELINE_MIN_S,
    GAP_MAX_S,
    ONSET_MAX_S,
    ONSET_MIN_S,
    SECOND_GAP_MAX_S,
    SECOND_GAP_MIN_S,
    Stream,
    rng_for,
)

SPARSE_POPS_MIN = 8
SPARSE_POPS_MAX = 30
SPARSE_SPAN_MIN_S = 40.0
SPARSE_SPAN_MAX_S = 120.0
SPARSE_GAP_MAX_S = 20.0
SPARSE_FRACTION = 0.3
"""Share of crack roasts drawn sparse when the caller leaves ``sparse`` to the seed."""


@dataclass(frozen=True)
class Crack:
    """One cracking phase. ``bursts_s`` lists (start, end) of each cluster of pops; a single
    isolated pop is a cluster with start == end. Onset/end are the first/last pop."""

    onset_s: float
    end_s: float
    pop_times_s: np.ndarray
    bursts_s: list[tuple[float, float]]


def _envelope(u: float, shape: tuple[float, float, float, float]) -> float:
    """Cracking intensity (0-1] at fraction u of the crack: sparse onset, bursts, taper."""
    u1, u2, u3, floor = shape
    if u < u1:
        return 0.12 + 0.38 * (u / u1) ** 1.5
    if u < u2:
        return 0.5 + 0.5 * (u - u1) / (u2 - u1)
    if u < u3:
        return 1.0
    return 1.0 - (1.0 - floor) * ((u - u3) / (1.0 - u3)) ** 0.9


def _bursty_pops(
    rng: np.random.Generator, length_s: float, peak_rate: float, gap_scale: float,
    burst_range: tuple[float, float], gap_max: float,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Pop times (relative, sorted, first at 0 and last at ``length_s``) arranged in clusters.

    Isolated pops dominate the sparse onset and the taper; the middle is bursts of
    ``burst_range`` seconds separated by short gaps. No gap between pops exceeds ``gap_max``.
    """
    u1 = rng.uniform(0.10, 0.22)
    shape = (u1, u1 + rng.uniform(0.06, 0.15), rng.uniform(0.45, 0.70), rng.uniform(0.12, 0.3))
    lo, hi = burst_range
    times: list[np.ndarray] = []
    bursts: list[tuple[float, float]] = []
    t = 0.0
    while True:
        g = _envelope(t / length_s, shape)
        remaining = length_s - t
        single = remaining < lo or rng.random() < np.clip(0.9 - 1.1 * g, 0.02, 0.85)
        dur = 0.0 if single else min(float(np.clip(rng.lognormal(np.log(2.6), 0.45), lo, hi)),
                                     remaining)
        if single:
            times.append(np.array([t]))
        else:
            n_inner = rng.poisson(peak_rate * (0.35 + 0.65 * g) * dur)
            inner = t + dur * rng.beta(1.4, 1.4, size=n_inner)
            times.append(np.concatenate([[t, t + dur], inner]))
        bursts.append((t, t + dur))
        t_end = t + dur
        if t_end >= length_s - 1e-9:
            break
        med_gap = gap_scale * (1.0 + 5.0 * (1.0 - g) ** 1.5)
        gap = float(np.clip(med_gap * rng.lognormal(0.0, 0.35), 0.3, gap_max))
        if t_end + gap >= length_s - 0.3:
            times.append(np.array([length_s]))
            bursts.append((length_s, length_s))
            break
        t = t_end + gap
    return np.sort(np.concatenate(times)), bursts


def _make_crack(
    rng: np.random.Generator, start_s: float, length_s: float, peak_rate: float,
    gap_scale: float, burst_range: tuple[float, float], gap_max: float,
) -> Crack:
    rel, bursts = _bursty_pops(rng, length_s, peak_rate, gap_scale, burst_range, gap_max)
    pops = np.round(start_s + rel, 4)
    return Crack(
        onset_s=float(pops[0]), end_s=float(pops[-1]), pop_times_s=pops,
        bursts_s=[(round(start_s + a, 4), round(start_s + b, 4)) for a, b in bursts],
    )


def _sparse_pops(rng: np.random.Generator, n_pops: int, length_s: float, gap_max: float
                 ) -> np.ndarray:
    """``n_pops`` relative pop times, first at 0 and last at ``length_s``, no gap > ``gap_max``.

    Gaps are lognormal with a wide spread (sigma 1.1), so a few pops fall close together
    (a pair or triple within a second) between long silences, as when a handful of beans
    crack on their own. Over-long gaps are capped and their excess handed to the others
    (water-filling), which ends because ``(n_pops - 1) * gap_max >= length_s``; a gap pushed
    past its cap by that hand-out is capped in the next round.
    """
    n_gaps = n_pops - 1
    floor = min(0.1, 0.25 * length_s / n_gaps)  # s; two pops closer than this merge by ear
    w = rng.lognormal(0.0, 1.1, n_gaps)
    gaps = floor + (length_s - n_gaps * floor) * w / w.sum()
    # Per-gap caps of 70-100 % of gap_max, so capped gaps do not pile up at one value;
    # raised towards gap_max (never past it) where they could not hold length_s.
    caps = gap_max * rng.uniform(0.7, 1.0, n_gaps)
    deficit = length_s - caps.sum()
    if deficit > 0:
        caps += deficit * (gap_max - caps) / np.sum(gap_max - caps)
    for _ in range(n_gaps):
        over = gaps > caps
        if not over.any():
            break
        excess = float(np.sum(gaps[over] - caps[over]))
        gaps[over] = caps[over]
        free = gaps < caps - 1e-12
        gaps[free] += excess * (gaps[free] - floor + 1e-9) / np.sum(gaps[free] - floor + 1e-9)
    rel = np.concatenate([[0.0], np.cumsum(gaps)])
    rel[-1] = length_s
    return rel


def _sparse_crack(rng: np.random.Generator, start_s: float, n_pops: int, length_s: float,
                  gap_max: float) -> Crack:
    """A sparse crack; pops closer than 1 s to a neighbour are listed as one burst."""
    pops = np.round(start_s + _sparse_pops(rng, n_pops, length_s, gap_max), 4)
    bursts: list[tuple[float, float]] = []
    a = b = float(pops[0])
    for t in pops[1:].tolist():
        if t - b < 1.0:
            b = t
        else:
            bursts.append((a, b))
            a = b = t
    bursts.append((a, b))
    return Crack(onset_s=float(pops[0]), end_s=float(pops[-1]), pop_times_s=pops,
                 bursts_s=bursts)


def draw_sparse_choice(seed: int, crack: bool, sparse: bool | None) -> bool:
    """Whether first crack is sparse: ``sparse`` if given, else about 30 % of crack roasts."""
    if not crack:
        return False
    if sparse is None:
        return bool(rng_for(seed, Stream.SPARSE_CHOICE).random() < SPARSE_FRACTION)
    return bool(sparse)


def draw_cracks(
    seed: int, duration_s: float, crack: bool, second_crack: bool | None, sparse: bool = False
) -> tuple[Crack | None, Crack | None, str]:
    """First and second crack for one roast, plus the timeline mode ("full" or "scaled").

    Full-length roasts honour the published onset (398-790 s) and length (57-220 s) ranges;
    a ``sparse`` first crack instead spans 40-120 s with 8-30 pops and gaps of up to 20 s.
    Short roasts (tests, demos) scale the macro timeline (onset at 55-80 % of the roast, the
    crack fitting inside) but keep the physical burst structure; a sparse crack keeps its
    pop count and shrinks its span and largest gap together to fit.

    Dense roasts draw exactly what they drew before sparse mode existed (sparse draws come
    from their own sub-stream), so existing seeds keep their timelines.
    """
    if not crack:
        return None, None, "none"
    rng = rng_for(seed, Stream.CRACK)
    length = float(np.clip(rng.lognormal(np.log(CRACK_MEDIAN_S), 0.33), CRACK_MIN_S, CRACK_MAX_S))
    min_length = CRACK_MIN_S
    if sparse:
        rng_s = rng_for(seed, Stream.SPARSE)
        length = float(rng_s.uniform(SPARSE_SPAN_MIN_S, SPARSE_SPAN_MAX_S))
        n_sparse = int(rng_s.integers(SPARSE_POPS_MIN, SPARSE_POPS_MAX + 1))
        min_length = SPARSE_SPAN_MIN_S
    drawn_length = length
    gap2 = float(rng.uniform(SECOND_GAP_MIN_S, SECOND_GAP_MAX_S) ** 1.0)
    len2 = float(rng.uniform(15.0, 90.0))
    tail = float(rng.uniform(END_MARGIN_S, 45.0))
    frac = float(rng.uniform(0.0, 1.0))
    want2 = (rng_for(seed, Stream.SECOND_CHOICE).random() < 0.4
             if second_crack is None else bool(second_crack))

    if duration_s >= FULL_TIMELINE_MIN_S:
        mode = "full"
        if want2:  # reserve room after the crack for the gap and some second crack
            gap2 = min(gap2, max(SECOND_GAP_MIN_S, duration_s - ONSET_MIN_S - length - 20.0))
            tail = gap2 + 15.0
        room = min(ONSET_MAX_S, duration_s - tail) - ONSET_MIN_S
        if room < min_length and want2 and second_crack is None:
            want2, tail = False, END_MARGIN_S
            room = min(ONSET_MAX_S, duration_s - tail) - ONSET_MIN_S
        length = min(length, max(min_length, room))
        onset_hi = min(ONSET_MAX_S, duration_s - tail - length)
        onset = ONSET_MIN_S + frac * max(0.0, onset_hi - ONSET_MIN_S)
    else:
        mode = "scaled"
        scale = duration_s / 750.0
        margin = min(END_MARGIN_S, 0.05 * duration_s)
        gap2 = max(2.0, gap2 * scale)
        room2 = gap2 + max(3.0, 30.0 * scale)  # the gap plus some second crack
        if want2 and second_crack is None and 0.45 * duration_s - margin - room2 < 5.0:
            want2 = False
        onset_frac = rng.uniform(0.40, 0.55)
        onset = duration_s * (onset_frac if want2 else 0.55 + 0.25 * frac)
        room = duration_s - onset - margin - (room2 if want2 else 0.0)
        if room < 2.0:
            raise ValueError(f"duration_s={duration_s} is too short to hold a first crack"
                             + (" and a second crack" if want2 else ""))
        length = min(length, room * rng.uniform(0.8, 1.0))
    peak_rate = float(rng.uniform(4.0, 12.0))
    if sparse:
        gap_max = SPARSE_GAP_MAX_S * length / drawn_length
        first = _sparse_crack(rng_s, onset, n_sparse, length, gap_max)
    else:
        first = _make_crack(rng, onset, length, peak_rate, 1.0, (BURST_MIN_S, BURST_MAX_S),
                            GAP_MAX_S)
    second = None
    if want2:
        rng2 = rng_for(seed, Stream.SECOND)
        start2 = first.end_s + gap2
        len2 = min(len2, duration_s - start2 - END_MARGIN_S)
        if len2 >= 2.0:
            mean_rate = len(first.pop_times_s) / max(first.end_s - first.onset_s, 1.0)
            if sparse:  # second crack is a rush even after a sparse first crack
                mean_rate = max(mean_rate, 1.0)
            rate2 = 5.0 * mean_rate * float(rng2.uniform(1.2, 2.0))
            second = _make_crack(rng2, start2, len2, rate2, 0.4, (2.0, 12.0), 3.0)
    return first, second, mode


