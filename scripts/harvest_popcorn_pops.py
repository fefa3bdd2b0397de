"""Cut single popcorn pops out of the Popcorn100v1-v5 recordings into one small bank file.

Usage::

    python scripts/harvest_popcorn_pops.py SOURCE_DIR [--out models/data/popcorn/pops_16k.npz]

SOURCE_DIR holds ``Popcorn100v1.wav`` ... ``Popcorn100v5.wav`` from
github.com/JonathanPinchuk/popcorn (commit 64eef2c, Apache-2.0). Only those five files are
read: the ``Popcorn200v*`` recordings are kept out of the bank on purpose, so that they stay
unseen for evaluation.

How a pop is found and cut (all at 16 kHz, mono):

1. The signal is high-passed at 200 Hz (drops handling rumble) and its RMS is taken per
   1 ms frame. The local background is the 20th percentile of that RMS over 1 s.
2. A pop onset is a frame at least ``--onset-db`` (25 dB) over the background whose previous
   4 ms stay under background + 10 dB: a sharp attack out of quiet.
3. Pops with another onset within 20 ms before or 40 ms after are dropped (overlaps), and
   so are cuts whose pre-roll reaches 30 % of the pop's peak or whose part after the first
   15 ms gets within 90 % of it (a louder pop following inside the cut).
4. The cut starts 3 ms before the onset (pre-roll, so the attack is whole) and ends where the
   1 ms RMS has fallen 40 dB under the pop's peak or to background + 6 dB, held to
   20-60 ms after the onset. A 1 ms fade-in and an 8 ms fade-out remove edge clicks.
5. Each cut is peak-normalised to 0.9 and stored as int16; its original peak (dBFS), source
   file and time are kept in the index so any pop can be traced back.

The bank is an ``.npz`` with ``samples`` (all pops end to end, int16), ``offsets`` (start of
each pop in ``samples``, plus the end), ``source`` (file index), ``time_s`` (onset in its
file), ``peak_dbfs``, ``files`` (the source names) and ``sample_rate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

SOURCES = tuple(f"Popcorn100v{i}.wav" for i in range(1, 6))
SAMPLE_RATE = 16000
FRAME = 16  # samples: 1 ms at 16 kHz
PRE_ROLL_MS = 3
MIN_MS, MAX_MS = 20, 60
ATTACK_DB = 15.0  # rise over the loudest of the previous 4 ms that makes an onset


def _frame_db(x: np.ndarray) -> np.ndarray:
    """RMS per 1 ms frame, in dB re full scale."""
    m = x.size // FRAME
    e = np.mean(np.square(x[: m * FRAME].reshape(m, FRAME), dtype=np.float64), axis=1)
    return 10 * np.log10(e + 1e-14)


def _background_db(db: np.ndarray) -> np.ndarray:
    """20th percentile of the frame level over 1 s windows (step 100 ms), per frame."""
    step, win = 100, 1000
    starts = np.arange(0, max(1, db.size - win + 1), step)
    lv = np.array([np.percentile(db[s:s + win], 20) for s in starts])
    centres = starts + win // 2
    return np.interp(np.arange(db.size), centres, lv)


def find_pops(x: np.ndarray, onset_db: float) -> list[tuple[int, int, int]]:
    """(start, end, onset) sample indices of isolated pops in ``x`` (16 kHz mono)."""
    hp = signal.sosfiltfilt(signal.butter(2, 200 / (SAMPLE_RATE / 2), "highpass",
                                          output="sos"), x)
    db = _frame_db(hp)
    bg = _background_db(db)
    onsets: list[int] = []
    for i in np.flatnonzero(db > bg + onset_db):
        if i < 4 or (onsets and i - onsets[-1] < 10):
            continue
        if db[i] - db[i - 4:i].max() >= ATTACK_DB:
            onsets.append(int(i))
    onsets_arr = np.asarray(onsets)
    cuts = []
    for i in onsets:
        near = onsets_arr[(onsets_arr != i) & (onsets_arr > i - 20) & (onsets_arr < i + 40)]
        if near.size:
            continue
        peak = db[i:i + 5].max()
        stop = i + MIN_MS
        while stop < i + MAX_MS and stop < db.size and (
                db[stop] > peak - 30 and db[stop] > bg[stop] + 6):
            stop += 1
        start = (i - PRE_ROLL_MS) * FRAME
        if start < 0 or stop * FRAME > x.size:
            continue
        head = np.abs(hp[i * FRAME:(i + 15) * FRAME]).max()
        if (np.abs(hp[start:i * FRAME]).max() > 0.3 * head
                or np.abs(hp[(i + 15) * FRAME:stop * FRAME]).max(initial=0.0) > 0.9 * head):
            continue  # not quiet before, or a louder pop follows inside the cut
        cuts.append((start, stop * FRAME, i * FRAME))
    return cuts


def cut(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """The pop with its fades, peak-normalised to 0.9."""
    y = x[start:end].astype(np.float64).copy()
    fi, fo = FRAME, 8 * FRAME
    y[:fi] *= np.linspace(0, 1, fi)
    y[-fo:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fo))
    return 0.9 * y / (np.abs(y).max() + 1e-12)


def harvest(source_dir: Path, onset_db: float) -> dict[str, np.ndarray]:
    pops, src, times, peaks = [], [], [], []
    for k, name in enumerate(SOURCES):
        x, sr = sf.read(source_dir / name, dtype="float64", always_2d=True)
        x = x.mean(axis=1)
        if sr != SAMPLE_RATE:
            x = signal.resample_poly(x, SAMPLE_RATE, sr)
        for start, end, onset in find_pops(x, onset_db):
            pops.append(cut(x, start, end))
            src.append(k)
            times.append(onset / SAMPLE_RATE)
            peaks.append(20 * np.log10(np.abs(x[start:end]).max() + 1e-12))
    offsets = np.concatenate([[0], np.cumsum([p.size for p in pops])]).astype(np.int64)
    samples = np.round(np.concatenate(pops) * 32767).astype(np.int16)
    return {
        "samples": samples, "offsets": offsets, "source": np.asarray(src, np.int16),
        "time_s": np.round(np.asarray(times), 4), "peak_dbfs": np.round(np.asarray(peaks), 2),
        "files": np.asarray(SOURCES), "sample_rate": np.asarray(SAMPLE_RATE),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source_dir", type=Path, help="folder with Popcorn100v1.wav ... v5.wav")
    default_out = Path(__file__).resolve().parents[1] / "models/data/popcorn/pops_16k.npz"
    ap.add_argument("--out", type=Path, default=default_out)
    ap.add_argument("--onset-db", type=float, default=25.0,
                    help="onset threshold over the local background (dB)")
    args = ap.parse_args(argv)
    missing = [n for n in SOURCES if not (args.source_dir / n).is_file()]
    if missing:
        print(f"missing in {args.source_dir}: {', '.join(missing)}", file=sys.stderr)
        return 2
    bank = harvest(args.source_dir, args.onset_db)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **bank)
    n = bank["offsets"].size - 1
    lengths = np.diff(bank["offsets"]) / SAMPLE_RATE * 1000
    per_file = np.bincount(bank["source"], minlength=len(SOURCES)).tolist()
    print(f"{n} pops ({per_file} per file), {lengths.min():.0f}-{lengths.max():.0f} ms, "
          f"{args.out.stat().st_size / 1024:.0f} KiB -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
