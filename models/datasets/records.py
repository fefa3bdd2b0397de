"""What training and evaluation data is made of: recordings, chunks, their labels.

A recording's first-crack regions label its chunks: a chunk is `first_crack` when at
least half of it overlaps first-crack regions (`label_window`). A chunk's recording id
is its file stem up to a `_chunk`/`-chunk` marker (`roast7_chunk_012` -> `roast7`);
without a marker, a trailing `_NNN`/`-NNN` chunk index is dropped (`roast7-012` ->
`roast7`); otherwise the whole stem. The rule errs towards merging: two recordings that
share a prefix land in one group, which can only make a split stricter, never leak.
Audio is float32 mono at 16 kHz; other rates are resampled, channels averaged.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from firstcrack.models.contracts import SAMPLE_RATE, UserError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"})


_CHUNK_ID = re.compile(r"^(?P<rec>.+?)[_-]chunk(?:[_-]?\d+)?.*$", re.IGNORECASE)


_INDEX_SUFFIX = re.compile(r"^(?P<rec>.+?)[_-]\d+$")


LABELS: tuple[str, str] = ("no_first_crack", "first_crack")
"""Class index order, the published checkpoint's: 0 = no_first_crack, 1 = first_crack."""
SPLITS: tuple[str, str, str] = ("train", "val", "test")


class DatasetError(UserError, ValueError):
    """A data directory that cannot give a dataset at all (missing, empty, one recording)."""


class AudioError(UserError, ValueError):
    """An audio file that cannot be read or is empty."""


@dataclass(eq=False)
class Chunk:
    """One fixed-length training window.

    `audio` is float32 mono 16 kHz, exactly the window length (a view into the
    recording when cut from one). `start_s` is seconds from the start of its
    recording (0 for published chunks). `label`: 1 = first_crack.
    """

    recording_id: str
    source: str
    start_s: float
    label: int
    audio: np.ndarray


@dataclass(eq=False)
class Recording:
    """A whole annotated recording; `regions` are first-crack (start, end) seconds."""

    recording_id: str
    path: Path
    audio: np.ndarray
    regions: list[tuple[float, float]]
    annotation: dict[str, Any]

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE

    @property
    def has_crack(self) -> bool:
        return bool(self.regions)


@dataclass
class DatasetSplits:
    """Chunks per split ("train"/"val"/"test") and the report describing them."""

    chunks: dict[str, list[Chunk]]
    report: dict[str, Any]
    problems: list[dict[str, str]] = field(default_factory=list)


def load_audio(path: str | Path) -> np.ndarray:
    """Read any soundfile-supported file as float32 mono at 16 kHz (raises AudioError)."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise AudioError(f"unreadable audio: {exc}") from exc
    if data.size == 0:
        raise AudioError("audio file is empty")
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        # Imported here: scipy.signal costs ~75 MB of memory, and the CLI imports this
        # module (evaluate's options) for every command, `run` on a Pi included.
        from scipy.signal import resample_poly

        g = gcd(int(rate), SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // g, int(rate) // g)
    return np.ascontiguousarray(mono, dtype=np.float32)


def fit_length(audio: np.ndarray, samples: int) -> np.ndarray:
    """Zero-pad or truncate to exactly `samples` (the model's window)."""
    if len(audio) >= samples:
        return audio[:samples]
    return np.pad(audio, (0, samples - len(audio)))


def label_window(start_s: float, window_s: float, regions: Iterable[tuple[float, float]]) -> int:
    """1 when first-crack regions cover at least half of [start_s, start_s + window_s).

    Overlapping regions are merged first so that no second counts twice.
    """
    covered, cursor = 0.0, start_s
    for lo, hi in sorted(regions):
        lo, hi = max(lo, cursor), min(hi, start_s + window_s)
        if hi > lo:
            covered += hi - lo
            cursor = hi
    return int(covered >= 0.5 * window_s - 1e-9)


def chunk_recording(rec: Recording, window_s: float = 10.0, hop_s: float = 5.0) -> list[Chunk]:
    """Cut complete windows every `hop_s` seconds; a tail shorter than a window is dropped."""
    win, hop = round(window_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE)
    return [
        Chunk(rec.recording_id, str(rec.path), s / SAMPLE_RATE,
              label_window(s / SAMPLE_RATE, window_s, rec.regions), rec.audio[s : s + win])
        for s in range(0, len(rec.audio) - win + 1, hop)
    ]


def chunk_recording_id(stem: str) -> str:
    """The recording a published chunk came from (rule in the module docstring)."""
    for pattern in (_CHUNK_ID, _INDEX_SUFFIX):
        match = pattern.match(stem)
        if match:
            return match.group("rec")
    return stem
